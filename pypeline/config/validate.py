"""Turn the raw YAML tree into typed config objects, collecting every issue of the file in one pass."""
from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, timedelta, timezone
from typing import Any

from croniter import croniter

from pypeline.config import codes, schema
from pypeline.config import graph as digraph
from pypeline.config.codes import ErrorCode
from pypeline.config.handlers import handler_problem
from pypeline.config.model import (
    BatchConfig,
    GeneratorConfig,
    NodeConfig,
    PipelineConfig,
    PypelineConfig,
    RetryPolicy,
    ScheduleConfig,
    ServiceConfig,
)
from pypeline.config.ops import check_notify, notify_handler_problem
from pypeline.config.schema import Reporter, check_mapping, check_value, describe, hint, snake_case
from pypeline.config.subpipelines import check_node_kind, check_pipeline_refs, node_handler
from pypeline.config.yaml_source import SourceMap, index_path, join_path
from pypeline.errors import ConfigIssue

__all__ = ["validate_config"]


def validate_config(
    data: Any, source: SourceMap, *, check_handlers: bool = True
) -> tuple[PypelineConfig | None, list[ConfigIssue]]:
    """Validate a parsed config tree; returns the typed config (None if the root is unusable) and all issues."""
    validator = _Validator(source)
    config = validator.run(data, check_handlers=check_handlers)
    return config, validator.rep.issues


class _Validator:
    """One validation pass over a whole file."""

    def __init__(self, source: SourceMap) -> None:
        self.rep = Reporter(source)
        #: (path, handler, needs_event) for every handler use whose path has the right format
        self.handler_uses: list[tuple[str, str, bool]] = []
        #: (key path, dotted path) of each `notify.handler`, imported with the other handlers.
        self.notify_handlers: list[tuple[str, str]] = []

    def error(
        self, path: str, message: str, *, code: ErrorCode, key: bool = False, suggestion: str | None = None
    ) -> None:
        """Record an issue with its stable code."""
        self.rep.error(path, message, code=code, key=key, suggestion=suggestion)

    # ------------------------------------------------------------------------------------------------ top

    def run(self, data: Any, *, check_handlers: bool) -> PypelineConfig | None:
        """Validate every section, then (optionally) import the handlers."""
        if not isinstance(data, dict):
            self.error("", f"the top level must be a mapping (serviceConfig, pipelines, ...), got {describe(data)}",
                       code=codes.WRONG_TYPE)
            return None
        top = check_mapping(data, schema.TOP, "", self.rep) or {}
        services = self._services(top.get("serviceConfig") or [])
        raw_pipelines = top.get("pipelines") or {}
        pipelines = self._pipelines(raw_pipelines)
        check_pipeline_refs(raw_pipelines, self.rep)
        declared = self._declared_handlers(top)
        schedules = self._schedules(top.get("scheduledTasks") or {}, set(raw_pipelines), declared)
        batches = self._batches(top.get("batches") or {}, set(raw_pipelines))
        if check_handlers:
            self._check_handlers()
            for path, handler in self.notify_handlers:
                problem = notify_handler_problem(handler)
                if problem is not None:
                    self.error(path, problem, code=codes.HANDLER)
        return PypelineConfig(
            path=self.rep.source.filename,
            services=tuple(services),
            pipelines=pipelines,
            schedules=schedules,
            batches=batches,
            api_config=dict(top.get("apiConfig") or {}),
            raw=data,
        )

    def _declared_handlers(self, top: dict[str, Any]) -> set[str]:
        """Handler strings named in registeredTasks or taskDefinitions, read leniently (even from bad entries)."""
        found: set[str] = set()
        for service in top.get("serviceConfig") or []:
            tasks = service.get("registeredTasks") if isinstance(service, dict) else None
            for task in tasks if isinstance(tasks, list) else []:
                handler = task.get("handler") if isinstance(task, dict) else task
                if isinstance(handler, str):
                    found.add(handler.strip())
        for pipe in (top.get("pipelines") or {}).values():
            config = pipe.get("config") if isinstance(pipe, dict) else None
            defs = config.get("taskDefinitions") if isinstance(config, dict) else None
            for task in defs.values() if isinstance(defs, dict) else []:
                handler = task.get("handler") if isinstance(task, dict) else None
                if isinstance(handler, str):
                    found.add(handler.strip())
        return found

    # ------------------------------------------------------------------------------------------- services

    def _services(self, raw: list[Any]) -> list[ServiceConfig]:
        services: list[ServiceConfig] = []
        names: dict[str, str] = {}
        for i, item in enumerate(raw):
            path = index_path("serviceConfig", i)
            entry = check_mapping(item, schema.SERVICE, path, self.rep)
            if entry is None:
                continue
            handlers: list[str] = []
            for j, task in enumerate(entry.get("registeredTasks") or []):
                handler = self._registered_task(task, index_path(join_path(path, "registeredTasks"), j))
                if handler is not None:
                    handlers.append(handler)
            name = entry.get("name")
            if name is None:
                continue
            if name in names:
                self.error(join_path(path, "name"), f"duplicate service name '{name}' (also used by {names[name]})",
                           code=codes.DUPLICATE_NAME)
                continue
            names[name] = path
            services.append(ServiceConfig(name=name, handlers=tuple(dict.fromkeys(handlers)), raw=item))
        return services

    def _registered_task(self, task: Any, path: str) -> str | None:
        field = schema.REGISTERED_TASK.fields["handler"]
        if isinstance(task, str):  # lenient: a bare handler path instead of {handler: ...}
            ok, handler = check_value(task, field, path, "handler", self.rep)
            handler_path = path
        else:
            entry = check_mapping(task, schema.REGISTERED_TASK, path, self.rep)
            handler = (entry or {}).get("handler")
            ok, handler_path = handler is not None, join_path(path, "handler")
        if not ok:
            return None
        self.handler_uses.append((handler_path, handler, False))
        return handler

    # ------------------------------------------------------------------------------------------ pipelines

    def _pipelines(self, raw: dict[Any, Any]) -> dict[str, PipelineConfig]:
        pipelines: dict[str, PipelineConfig] = {}
        for pid, item in raw.items():
            path = join_path("pipelines", pid)
            if not isinstance(pid, str):
                self.error(path, f"pipeline ids must be strings, got {describe(pid)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            pipe = self._pipeline(pid, item, path)
            if pipe is not None:
                pipelines[pid] = pipe
        return pipelines

    def _pipeline(self, pid: str, raw: Any, path: str) -> PipelineConfig | None:
        entry = check_mapping(raw, schema.PIPELINE, path, self.rep)
        if entry is None:
            return None
        self._schema_version(entry, path)
        if "config" not in entry:
            return None  # missing or not a mapping: already reported
        cpath = join_path(path, "config")
        config = check_mapping(entry["config"], schema.PIPELINE_CONFIG, cpath, self.rep) or {}
        meta = check_mapping(config.get("metadata"), schema.METADATA, join_path(cpath, "metadata"), self.rep) or {}
        notify_path = join_path(join_path(cpath, "metadata"), "notify")
        notify = check_notify(meta.get("notify"), notify_path, self.rep)
        if notify is not None and notify.handler:
            self.notify_handlers.append((join_path(notify_path, "handler"), notify.handler))
        if "taskDefinitions" not in config:
            return None  # missing or not a mapping: graph checks would only repeat that
        defs = self._task_definitions(config.get("taskDefinitions") or {}, join_path(cpath, "taskDefinitions"))
        graph, edges = self._graph(config.get("dagAdjacency") or {}, join_path(cpath, "dagAdjacency"), defs)
        nodes = self._nodes(defs, meta, graph, join_path(cpath, "taskDefinitions"))
        payload_schema = config.get("payloadSchema")
        if payload_schema is not None:
            self._payload_schema(payload_schema, join_path(cpath, "payloadSchema"))
        if "taskDefinitions" in config and not config["taskDefinitions"]:
            self.error(join_path(cpath, "taskDefinitions"), "a pipeline needs at least one node in taskDefinitions",
                       code=codes.NO_NODES)
        if "name" not in entry or len(nodes) != len(defs):
            return None
        return PipelineConfig(
            id=pid,
            name=entry["name"],
            nodes=nodes,
            edges=tuple(edges),
            description=entry.get("description"),
            schema_version=entry.get("schemaVersion", 1),
            queue=meta.get("queue", "celery"),
            processor_queue=meta.get("processorQueue", "celery"),
            engine=meta.get("engine", "event"),
            max_run_ttl=meta.get("maxRunTtl"),
            payload_schema=payload_schema,
            raw=raw,
            max_active_runs=meta.get("maxActiveRuns"),
            on_limit=meta.get("onLimit", "queue"),
            notify=notify,
        )

    def _schema_version(self, entry: dict[str, Any], path: str) -> None:
        version = entry.get("schemaVersion", 1)
        if version != 1:
            self.error(join_path(path, "schemaVersion"), f"unsupported schemaVersion {version}; only 1 exists",
                       code=codes.SCHEMA_VERSION)

    def _task_definitions(self, raw: dict[Any, Any], path: str) -> dict[str, dict[str, Any]]:
        """Node name -> checked taskDefinitions entry (every key of `raw`, even broken ones, as a node name)."""
        defs: dict[str, dict[str, Any]] = {}
        for name, item in raw.items():
            npath = join_path(path, name)
            if not isinstance(name, str):
                self.error(npath, f"node names must be strings, got {describe(name)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            entry = check_mapping(item, schema.TASK_DEFINITION, npath, self.rep)
            check_node_kind(item, npath, self.rep)
            defs[name] = entry if entry is not None else {}
            handler = defs[name].get("handler")
            if handler is not None:
                self.handler_uses.append((join_path(npath, "handler"), handler, True))
        return defs

    def _graph(
        self, raw: dict[Any, Any], path: str, defs: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
        """Edges in file order and the successor lists of every node (graph nodes and standalone taskDefinitions)."""
        graph: dict[str, list[str]] = {name: [] for name in defs}
        edges: list[tuple[str, str]] = []
        edge_paths: dict[tuple[str, str], str] = {}
        for parent, children in raw.items():
            ppath = join_path(path, parent)
            if not isinstance(parent, str):
                self.error(ppath, f"node names must be strings, got {describe(parent)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            if parent not in defs:
                text, match = hint(parent, defs)
                self.error(ppath, f"node '{parent}' has no taskDefinitions entry{text}",
                           key=True, code=codes.UNKNOWN_NODE, suggestion=match)
            if children is None:
                children = []
            if not isinstance(children, list):
                self.error(ppath, f"dagAdjacency.{parent} must be a list of child node names, got {describe(children)}",
                           code=codes.WRONG_TYPE)
                continue
            seen: set[str] = set()
            for i, child in enumerate(children):
                cpath = index_path(ppath, i)
                if not isinstance(child, str) or not child.strip():
                    self.error(cpath, f"child node names must be non-empty strings, got {describe(child)}",
                               code=codes.WRONG_TYPE)
                    continue
                child = child.strip()
                if child in seen:
                    self.error(cpath, f"duplicate child '{child}' in dagAdjacency.{parent}", code=codes.DUPLICATE_CHILD)
                    continue
                seen.add(child)
                if child == parent:
                    self.error(cpath, f"self-loop: node '{parent}' lists itself as a child ({parent} -> {parent})",
                               code=codes.SELF_LOOP)
                    continue
                if child not in defs:
                    text, match = hint(child, defs)
                    self.error(cpath, f"edge '{parent} -> {child}' points to unknown node '{child}': it has no "
                                      f"taskDefinitions entry{text}", code=codes.UNKNOWN_NODE, suggestion=match)
                    continue
                if parent not in defs:
                    continue
                edges.append((parent, child))
                edge_paths[(parent, child)] = cpath
                graph[parent].append(child)
        self._cycles(graph, edge_paths, list(defs))
        return graph, edges

    def _cycles(self, graph: dict[str, list[str]], edge_paths: dict[tuple[str, str], str], order: list[str]) -> None:
        rank = {name: i for i, name in enumerate(order)}
        components = [c for c in digraph.strongly_connected_components(graph) if len(c) > 1]
        for component in sorted(components, key=lambda c: min(rank[n] for n in c)):
            start = min(component, key=rank.__getitem__)
            cycle = digraph.find_cycle(graph, start, within=component)
            first = cycle.index(min(cycle, key=rank.__getitem__))
            cycle = cycle[first:] + cycle[:first]
            shown = " -> ".join([*cycle, cycle[0]])
            self.error(edge_paths[(cycle[0], cycle[1])], f"cycle in dagAdjacency: {shown}", code=codes.CYCLE)

    def _nodes(
        self, defs: dict[str, dict[str, Any]], meta: dict[str, Any], graph: dict[str, list[str]], path: str
    ) -> dict[str, NodeConfig]:
        upstream = digraph.reverse(graph)
        engine = meta.get("engine", "event")
        nodes: dict[str, NodeConfig] = {}
        split_nodes = {name for name, d in defs.items() if d.get("split")}
        for name, d in defs.items():
            npath = join_path(path, name)
            if engine == "dyrygent":
                for key in ("split", "filter", "joinKey"):
                    if d.get(key):
                        self.error(join_path(npath, key), f"engine 'dyrygent' does not support '{key}' "
                                                          f"(node {name}); use engine: event",
                                   code=codes.ENGINE_UNSUPPORTED)
            if "splitConcurrency" in d and not d.get("split"):
                self.error(join_path(npath, "splitConcurrency"), f"'splitConcurrency' requires 'split: true' "
                                                                 f"(node {name})", code=codes.NEEDS_SPLIT)
            if d.get("joinKey") and len(upstream[name]) < 2 and not (digraph.reachable(upstream, name) & split_nodes):
                self.error(join_path(npath, "joinKey"), f"'joinKey' on node '{name}' needs at least two upstream "
                                                        "nodes or a split node upstream", code=codes.JOIN_WITHOUT_JOIN)
            handler = node_handler(d, npath, self.rep)
            if handler is None:
                continue
            retry = RetryPolicy(
                max_retry=d.get("maxRetry", meta.get("maxRetry", 3)),
                backoff=d.get("retryBackoff", meta.get("retryBackoff", 3)),
                jitter=d.get("retryJitter", meta.get("retryJitter", False)),
                backoff_max=d.get("retryBackoffMax", meta.get("retryBackoffMax", 600)),
            )
            nodes[name] = NodeConfig(
                name=name,
                handler=handler,
                pipeline=d.get("pipeline"),
                queue=d.get("queue", meta.get("queue", "celery")),
                max_ttl=d.get("maxTtl", meta.get("maxTtl", 60)),
                retry=retry,
                priority=d.get("priority", meta.get("priority")),
                split=d.get("split", False),
                split_concurrency=d.get("splitConcurrency"),
                filter=d.get("filter", False),
                join_key=d.get("joinKey"),
            )
        return nodes

    def _payload_schema(self, value: dict[str, Any], path: str) -> None:
        import jsonschema  # only configs with a payloadSchema pay for it

        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except jsonschema.SchemaError as exc:
            where = path
            for part in exc.path:
                where = index_path(where, part) if isinstance(part, int) else join_path(where, part)
            self.error(where, f"invalid payloadSchema: {exc.message}", code=codes.PAYLOAD_SCHEMA)
        except Exception as exc:  # e.g. an unhashable $schema value inside jsonschema
            self.error(path, f"invalid payloadSchema: {type(exc).__name__}: {exc}", code=codes.PAYLOAD_SCHEMA)

    # ------------------------------------------------------------------------------------------ schedules

    def _schedules(
        self, raw: dict[Any, Any], pipeline_ids: set[Any], declared: set[str]
    ) -> dict[str, ScheduleConfig]:
        schedules: dict[str, ScheduleConfig] = {}
        names: dict[str, str] = {}
        for sid, item in raw.items():
            path = join_path("scheduledTasks", sid)
            if not isinstance(sid, str):
                self.error(path, f"schedule ids must be strings, got {describe(sid)}",
                           key=True, code=codes.ID_NOT_STRING)
                continue
            sched = self._schedule(sid, item, path, pipeline_ids, declared)
            if sched is None:
                continue
            if sched.name in names:
                self.error(join_path(path, "name"), f"schedule name '{sched.name}' is already used by "
                                                    f"{names[sched.name]}; names must be unique",
                           code=codes.DUPLICATE_NAME)
                continue
            names[sched.name] = path
            schedules[sid] = sched
        return schedules

    def _schedule(
        self, sid: str, raw: Any, path: str, pipeline_ids: set[Any], declared: set[str]
    ) -> ScheduleConfig | None:
        entry = check_mapping(raw, schema.SCHEDULE, path, self.rep)
        if entry is None:
            return None
        self._schema_version(entry, path)
        if "config" not in entry:
            return None  # missing or not a mapping: already reported
        cpath = join_path(path, "config")
        config = check_mapping(entry["config"], schema.SCHEDULE_CONFIG, cpath, self.rep) or {}
        ok = self._schedule_target(config, cpath, pipeline_ids, declared)
        timezone_name = config.get("timezone", "UTC")
        if not self._timezone_ok(timezone_name, join_path(cpath, "timezone")):
            ok = False
        timing = self._timing(config, cpath)
        if not ok or timing is None or "name" not in entry:
            return None
        schedule_type, seconds, crontab = timing
        return ScheduleConfig(
            id=sid,
            name=entry["name"],
            enabled=entry.get("enabled", True),
            schedule_type=schedule_type,
            task=config.get("task"),
            pipeline=config.get("pipeline"),
            queue=config.get("queue"),
            exchange=config.get("exchange"),
            routing_key=config.get("routingKey"),
            expires=config.get("expires"),
            interval_seconds=seconds,
            crontab=crontab,
            timezone=timezone_name,
            payload=dict(config.get("payload") or {}),
            raw=raw,
            tags=(config["tags"],) if isinstance(config.get("tags"), str) else tuple(config.get("tags") or ()),
        )

    def _schedule_target(self, config: dict[str, Any], path: str, pipeline_ids: set[Any], declared: set[str]) -> bool:
        failed = self.rep.source.failed
        task, pipeline = config.get("task"), config.get("pipeline")
        if task is not None and pipeline is not None:
            self.error(join_path(path, "pipeline"), "a schedule takes either 'task' or 'pipeline', not both",
                       key=True, code=codes.TARGET_CONFLICT)
            return False
        if task is None and pipeline is None:
            if join_path(path, "task") not in failed and join_path(path, "pipeline") not in failed:
                self.error(path, "a schedule needs 'task' (a handler path) or 'pipeline' (a pipeline id)",
                           key=True, code=codes.NO_TARGET)
            return False
        if task is not None:
            if task not in declared:
                text, match = hint(task, declared, cutoff=0.9)
                self.error(join_path(path, "task"), f"task '{task}' is not declared in serviceConfig.registeredTasks"
                                                    f"{text}", code=codes.UNDECLARED_TASK, suggestion=match)
                return False
            self.handler_uses.append((join_path(path, "task"), task, False))
            return True
        if pipeline not in pipeline_ids:
            names = {p for p in pipeline_ids if isinstance(p, str)}
            text, match = hint(pipeline, names)
            self.error(join_path(path, "pipeline"), f"pipeline '{pipeline}' is not declared in pipelines{text}",
                       code=codes.UNKNOWN_PIPELINE, suggestion=match)
            return False
        return True

    def _timezone_ok(self, name: str, path: str) -> bool:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self.error(path, f"unknown timezone '{name}'; expected an IANA name like 'Europe/Warsaw' or 'UTC'",
                       code=codes.UNKNOWN_TIMEZONE)
            return False
        return True

    def _timing(
        self, config: dict[str, Any], path: str
    ) -> tuple[str, float | None, dict[str, str] | None] | None:
        """(schedule_type, interval_seconds, crontab) of a schedule config, or None when invalid."""
        schedule_value = config.get("schedule")
        if not isinstance(schedule_value, dict):
            return None
        spath = join_path(path, "schedule")
        stype = config.get("scheduleType")
        if stype is None:
            if join_path(path, "scheduleType") in self.rep.source.failed:
                return None
            keys = set(schedule_value)
            is_cron = bool(keys & set(schema.CRONTAB_FIELDS))
            is_interval = bool(keys & set(schema.INTERVAL_SCHEDULE.fields))
            if is_cron == is_interval:
                self.error(spath, "cannot tell the schedule type from the schedule's keys; set scheduleType: "
                                  "interval (every/period) or crontab (minute/hour/dayOfWeek/dayOfMonth/monthOfYear)",
                           code=codes.AMBIGUOUS_SCHEDULE)
                return None
            stype = "crontab" if is_cron else "interval"
        if stype == "interval":
            interval = check_mapping(schedule_value, schema.INTERVAL_SCHEDULE, spath, self.rep)
            if interval is None or "every" not in interval or "period" not in interval:
                return None
            try:
                seconds = timedelta(**{interval["period"]: interval["every"]}).total_seconds()
            except OverflowError:
                self.error(join_path(spath, "every"), f"interval of {interval['every']} {interval['period']} is "
                                                      "too large", code=codes.BAD_INTERVAL)
                return None
            if seconds <= 0:
                self.error(join_path(spath, "every"), "interval must be at least one microsecond",
                           code=codes.BAD_INTERVAL)
                return None
            return "interval", seconds, None
        return self._crontab(schedule_value, spath)

    def _crontab(self, value: dict[str, Any], path: str) -> tuple[str, float | None, dict[str, str] | None] | None:
        fields = check_mapping(value, schema.CRONTAB_SCHEDULE, path, self.rep)
        if fields is None:
            return None
        crontab: dict[str, str] = {}
        ok = True
        for key, (name, position) in schema.CRONTAB_FIELDS.items():
            if key not in fields:
                ok = False
                continue
            text = fields[key]
            parts = ["*"] * 5
            parts[position] = text
            if not text or any(ch.isspace() for ch in text) or not _cron_valid(" ".join(parts)):
                self.error(join_path(path, key), f"Invalid {key}: `{text}`. Must be valid crontab pattern.",
                           code=codes.BAD_CRONTAB)
                ok = False
                continue
            crontab[name] = text
        return ("crontab", None, crontab) if ok else None

    # -------------------------------------------------------------------------------------------- batches

    def _batches(self, raw: dict[Any, Any], pipeline_ids: set[Any]) -> dict[str, BatchConfig]:
        batches: dict[str, BatchConfig] = {}
        for bid, item in raw.items():
            path = join_path("batches", bid)
            if not isinstance(bid, str):
                self.error(path, f"batch ids must be strings, got {describe(bid)}", key=True, code=codes.ID_NOT_STRING)
                continue
            entry = check_mapping(item, schema.BATCH, path, self.rep)
            if entry is None:
                continue
            pipeline = entry.get("pipeline")
            if pipeline is not None and pipeline not in pipeline_ids:
                names = {p for p in pipeline_ids if isinstance(p, str)}
                text, match = hint(pipeline, names)
                self.error(join_path(path, "pipeline"), f"pipeline '{pipeline}' is not declared in pipelines{text}",
                           code=codes.UNKNOWN_PIPELINE, suggestion=match)
                continue
            generator = self._generator(entry.get("generator"), join_path(path, "generator"))
            if pipeline is None or generator is None:
                continue
            batches[bid] = BatchConfig(
                id=bid,
                pipeline=pipeline,
                generator=generator,
                chunk_size=entry.get("chunkSize", 100),
                concurrency=entry.get("concurrency", 4),
                payload_key=entry.get("payloadKey", "keys"),
            )
        return batches

    def _generator(self, raw: Any, path: str) -> GeneratorConfig | None:
        if raw is None:
            return None  # missing: already reported as a missing required key
        entry = check_mapping(raw, schema.GENERATOR, path, self.rep)
        if entry is None or "type" not in entry:
            return None
        kind = entry["type"]
        ok = True
        own_keys, required_key = schema.GENERATOR_KEYS_BY_TYPE[kind]
        for other, (other_keys, _) in schema.GENERATOR_KEYS_BY_TYPE.items():
            if other == kind:
                continue
            for key in sorted((other_keys & set(entry)) - own_keys):
                self.error(join_path(path, key), f"'{key}' is not valid for generator type '{kind}' "
                                                 f"(it belongs to type '{other}')", key=True, code=codes.GENERATOR_KEY)
                ok = False
        if required_key not in entry and join_path(path, required_key) not in self.rep.source.failed:
            if required_key not in raw:
                self.error(path, f"generator type '{kind}' needs '{required_key}'",
                           key=True, code=codes.GENERATOR_NEEDS)
            ok = False
        if "regex" in entry:
            try:
                re.compile(entry["regex"])
            except re.error as exc:
                self.error(join_path(path, "regex"), f"'regex' is not a valid regular expression: {exc}",
                           code=codes.BAD_REGEX)
                ok = False
        if "minSize" in entry and "maxSize" in entry and entry["minSize"] > entry["maxSize"]:
            self.error(join_path(path, "maxSize"), f"'maxSize' ({entry['maxSize']}) is smaller than 'minSize' "
                                                   f"({entry['minSize']})", code=codes.SIZES_REVERSED)
            ok = False
        if "modifiedSince" in entry:
            since = _as_datetime(entry["modifiedSince"])
            if since is None:
                self.error(join_path(path, "modifiedSince"), "'modifiedSince' must be an ISO 8601 date or "
                                                             f"timestamp, got {describe(entry['modifiedSince'])}",
                           code=codes.BAD_TIMESTAMP)
                ok = False
            entry["modifiedSince"] = since
        if not ok:
            return None
        options = {snake_case(key): value for key, value in entry.items() if key != "type"}
        return GeneratorConfig(type=kind, options=options)

    # ------------------------------------------------------------------------------------------- handlers

    def _check_handlers(self) -> None:
        """Import every handler once per (path, mode); report each distinct problem once, at its first use."""
        problems: dict[tuple[str, bool], str | None] = {}
        reported: set[str] = set()
        for path, handler, needs_event in self.handler_uses:
            cache_key = (handler, needs_event)
            if cache_key not in problems:
                problems[cache_key] = handler_problem(handler, needs_event=needs_event)
            problem = problems[cache_key]
            if problem is not None and problem not in reported:
                reported.add(problem)
                self.error(path, problem, code=codes.HANDLER)


def _cron_valid(expression: str) -> bool:
    try:
        return bool(croniter.is_valid(expression))
    except Exception:  # croniter raises odd types on some malformed input; treat them all as invalid
        return False


def _as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime (naive values are UTC) from a YAML timestamp, date or ISO string."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    else:
        try:
            result = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return result if result.tzinfo else result.replace(tzinfo=timezone.utc)
