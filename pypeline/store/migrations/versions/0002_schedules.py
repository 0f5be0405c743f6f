"""schedules: the schedule table, its one-row change counter and the fire log

Revision ID: 0002_schedules
Revises: 0001_core
Create Date: 2026-11-25 15:41:40.933396
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_schedules'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    changes = op.create_table('pypeline_schedule_changes',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('counter', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(changes, [{'id': 1, 'counter': 0}])

    op.create_table('pypeline_schedule_fires',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('schedule_id', sa.String(length=200), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('beat', sa.String(length=200), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('schedule_id', 'due_at', name='uq_schedule_fire_due')
    )
    with op.batch_alter_table('pypeline_schedule_fires', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_fires_status_claimed', ['status', 'claimed_at'], unique=False)

    op.create_table('pypeline_schedules',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('cron', sa.String(length=200), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('interval_seconds', sa.Float(), nullable=True),
    sa.Column('run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('queue', sa.String(length=200), nullable=True),
    sa.Column('exchange', sa.String(length=200), nullable=True),
    sa.Column('routing_key', sa.String(length=200), nullable=True),
    sa.Column('expires', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('api_fields', sa.JSON(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('next_fire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('total_fires', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pypeline_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_schedules_version'), ['version'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pypeline_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_schedules_version'))

    op.drop_table('pypeline_schedules')
    with op.batch_alter_table('pypeline_schedule_fires', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_fires_status_claimed')

    op.drop_table('pypeline_schedule_fires')
    op.drop_table('pypeline_schedule_changes')
