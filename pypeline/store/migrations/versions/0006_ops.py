"""production operations: run tags, node logs, notification attempts, schedule tags

Revision ID: 0006_ops
Revises: 0002_schedules (it adds pypeline_schedules.tags)
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_ops'
down_revision = '0002_schedules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pypeline_run_tags',
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('tag', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['pypeline_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id', 'tag'),
    )
    with op.batch_alter_table('pypeline_run_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_run_tags_tag'), ['tag'], unique=False)

    op.create_table(
        'pypeline_node_logs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('node', sa.String(length=200), nullable=False),
        sa.Column('instance', sa.String(length=200), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['pypeline_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pypeline_node_logs', schema=None) as batch_op:
        batch_op.create_index('ix_node_logs_run_node', ['run_id', 'node', 'instance', 'attempt'], unique=False)

    op.create_table(
        'pypeline_notification_attempts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=500), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['pypeline_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pypeline_notification_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_notification_attempts_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('pypeline_schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pypeline_schedules', schema=None) as batch_op:
        batch_op.drop_column('tags')
    with op.batch_alter_table('pypeline_notification_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_notification_attempts_run_id'))
    op.drop_table('pypeline_notification_attempts')
    with op.batch_alter_table('pypeline_node_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_node_logs_run_node')
    op.drop_table('pypeline_node_logs')
    with op.batch_alter_table('pypeline_run_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_run_tags_tag'))
    op.drop_table('pypeline_run_tags')
