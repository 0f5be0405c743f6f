"""Packaging for celery-pypeline (import package `pypeline`)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

CORE = [
    "PyYAML>=6.0",
    "networkx>=3.0",
    "SQLAlchemy>=2.0",
    "alembic>=1.12",
    "click>=8.1",
    "rich>=13.0",
    "croniter>=2.0",
    "pydantic>=2.5",
    "jsonschema>=4.0",
    "ruamel.yaml>=0.18",  # `pypeline fmt`: round-trip that keeps comments
    "marshmallow>=3.20",  # the original's schema classes (pypeline.compat.schemas)
]
EXTRAS = {
    "workers": ["celery[redis]>=5.3", "kombu>=5.3", "celery-dyrygent>=0.8.0", "redis>=4.5"],
    "flask": ["Flask>=2.3", "flask-smorest>=0.44", "marshmallow>=3.20", "prometheus-client>=0.17", "gunicorn>=21",
              "swagger-ui-bundle>=1.1"],
    # The original's extra: a production WSGI server (gevent workers optional with gunicorn -k gevent).
    "web": ["gunicorn>=21", "gevent>=22.10"],
    "s3": ["boto3>=1.28"],
    "db": ["psycopg[binary]>=3.1"],
    "test": [
        "pytest>=7.4,<9.1",  # schemathesis 4.x uses Function._nodeid, gone in pytest 9.1+
        "pytest-timeout>=2.2",
        "pytest-rerunfailures>=14",
        "moto[server]>=5.0",
        "schemathesis>=3.30",
        "playwright>=1.40",
        "ruff>=0.4",
        # Type checking (`mypy`, config in pyproject.toml) and the stubs of libraries without inline types.
        "mypy>=1.11",
        "types-PyYAML>=6.0",
        "types-croniter>=2.0",
        "types-jsonschema>=4.0",
        "types-networkx>=3.0",
        "types-gunicorn>=23.0",
        "boto3-stubs[s3]>=1.28",
        "sqlalchemy-celery-beat>=0.8",
        "celery-redbeat>=2.2",
        "psutil>=5.9",
        "flower>=2.0",
    ],
}
EXTRAS["all"] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setup(
    name="celery-pypeline",
    version="0.1.0",
    description="Celery-backed DAG orchestration: sermos.yaml pipelines, event-driven engine, run store, beat, API.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["pypeline", "pypeline.*", "pypeline_examples", "pypeline_examples.*"]),
    include_package_data=True,
    package_data={"pypeline": ["store/migrations/*.ini", "store/migrations/*.py", "store/migrations/versions/*.py",
                               "web/templates/*.html", "web/static/*"]},
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["pypeline=pypeline.cli:main"]},
)
