"""sub-pipelines: the parent run and node of a child run

Revision ID: 0007_subpipelines
Revises: 0006_ops
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_subpipelines'
down_revision = '0006_ops'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pypeline_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_run_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('parent_node', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('parent_instance', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_pypeline_runs_parent_run_id'), ['parent_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pypeline_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_runs_parent_run_id'))
        batch_op.drop_column('parent_instance')
        batch_op.drop_column('parent_node')
        batch_op.drop_column('parent_run_id')
