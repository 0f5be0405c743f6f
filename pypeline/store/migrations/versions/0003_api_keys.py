"""api keys

Revision ID: 0003_api_keys
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_api_keys'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pypeline_api_keys',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pypeline_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_api_keys_revoked_at'), ['revoked_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pypeline_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_api_keys_revoked_at'))
    op.drop_table('pypeline_api_keys')
