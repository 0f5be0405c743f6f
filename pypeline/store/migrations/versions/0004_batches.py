"""batch runs and chunks

Revision ID: 0004_batches
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_batches'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pypeline_batch_runs',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('batch_id', sa.String(length=200), nullable=True),
        sa.Column('pipeline_id', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('generator', sa.JSON(), nullable=False),
        sa.Column('chunk_size', sa.Integer(), nullable=False),
        sa.Column('concurrency', sa.Integer(), nullable=False),
        sa.Column('payload_key', sa.String(length=200), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('cursor', sa.Text(), nullable=True),
        sa.Column('keys_listed', sa.Integer(), nullable=False),
        sa.Column('chunks_created', sa.Integer(), nullable=False),
        sa.Column('listing_done', sa.Boolean(), nullable=False),
        sa.Column('driver_token', sa.String(length=64), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('origin', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pypeline_batch_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_batch_runs_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pypeline_batch_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pypeline_batch_runs_status'), ['status'], unique=False)

    op.create_table(
        'pypeline_batch_chunks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('batch_run_id', sa.String(length=64), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('keys', sa.JSON(), nullable=False),
        sa.Column('key_count', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_run_id'], ['pypeline_batch_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('batch_run_id', 'number', name='uq_batch_chunk'),
        sa.UniqueConstraint('run_id', name='uq_batch_chunk_run'),
    )
    with op.batch_alter_table('pypeline_batch_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pypeline_batch_chunks_batch_run_id'), ['batch_run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pypeline_batch_chunks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_batch_chunks_batch_run_id'))
    op.drop_table('pypeline_batch_chunks')
    with op.batch_alter_table('pypeline_batch_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pypeline_batch_runs_status'))
        batch_op.drop_index(batch_op.f('ix_pypeline_batch_runs_created_at'))
        batch_op.drop_index(batch_op.f('ix_pypeline_batch_runs_batch_id'))
    op.drop_table('pypeline_batch_runs')
