"""node leases and the named-lock table

Revision ID: 0005_leases
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_leases'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pypeline_node_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_holder', sa.String(length=200), nullable=True))
    op.create_table(
        'pypeline_locks',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('pypeline_locks')
    with op.batch_alter_table('pypeline_node_runs', schema=None) as batch_op:
        batch_op.drop_column('lease_holder')
        batch_op.drop_column('lease_expires_at')
