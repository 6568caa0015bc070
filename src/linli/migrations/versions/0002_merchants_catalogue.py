"""merchants, catalogue, files, rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:22:07.017159
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("consumption_type", sa.String(length=20), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.Column("name_zh", sa.String(length=40), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["categories.id"], name=op.f("fk_categories_parent_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_categories_consumption_type"), ["consumption_type"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_categories_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "rule_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("effective_from", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effective_to", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint(
            "rule_id",
            "version",
            "jurisdiction",
            name=op.f("uq_rule_versions_rule_id_version_jurisdiction"),
        ),
    )
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_versions_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "merchant_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "applicant_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("foreign_trade", sa.Boolean(), nullable=False),
        sa.Column("company_name", sa.String(length=120), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("legal_representative", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("province_code", sa.String(length=6), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column(
            "business_scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column(
            "reviewed_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reviewed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('merchant', 'supplier')", name=op.f("ck_merchant_applications_kind")
        ),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')",
            name=op.f("ck_merchant_applications_status"),
        ),
        sa.ForeignKeyConstraint(
            ["applicant_user_id"],
            ["users.id"],
            name=op.f("fk_merchant_applications_applicant_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_merchant_applications_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_merchant_applications_reviewed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_applications")),
    )
    with op.batch_alter_table("merchant_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_merchant_applications_applicant_user_id"),
            ["applicant_user_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_merchant_applications_credit_code"), ["credit_code"], unique=False
        )
        batch_op.create_index(
            "ix_merchant_applications_status", ["status", "created_at"], unique=False
        )

    op.create_table(
        "products",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "category_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("shelf_life_days", sa.Integer(), nullable=True),
        sa.Column("storage_class", sa.String(length=10), nullable=False),
        sa.Column("origin", sa.String(length=120), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'listed', 'delisted')", name=op.f("ck_products_status")
        ),
        sa.CheckConstraint(
            "storage_class IN ('ambient', 'chilled', 'frozen')", name=op.f("ck_products_storage")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_products_category_id_categories")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_products_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_gtin"), ["gtin"], unique=False)
        batch_op.create_index("ix_products_org_status", ["organisation_id", "status"], unique=False)

    op.create_table(
        "stored_files",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column(
            "owner_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "owner_organisation_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_stored_files_owner_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_stored_files_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_files")),
    )
    with op.batch_alter_table("stored_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stored_files_owner_organisation_id"),
            ["owner_organisation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_stored_files_owner_user_id"), ["owner_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stored_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "three_same_certifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("export_standard", sa.String(length=200), nullable=False),
        sa.Column(
            "destination_markets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("production_line", sa.String(length=200), nullable=False),
        sa.Column(
            "certificates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "evidence_file_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("valid_from", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_to", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column(
            "reviewed_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reviewed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected', 'revoked')",
            name=op.f("ck_three_same_certifications_status"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_three_same_certifications_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_three_same_certifications_reviewed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_three_same_certifications")),
    )
    with op.batch_alter_table("three_same_certifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_three_same_certifications_organisation_id"),
            ["organisation_id"],
            unique=False,
        )

    op.create_table(
        "licences",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("licence_type", sa.String(length=30), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["merchant_applications.id"],
            name=op.f("fk_licences_application_id_merchant_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_licences_file_id_stored_files")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_licences_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licences")),
    )
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_licences_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_licences_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "merchant_profiles",
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("legal_representative", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column(
            "business_scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("verified_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_verification_due", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("listings_paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["merchant_applications.id"],
            name=op.f("fk_merchant_profiles_application_id_merchant_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_merchant_profiles_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_merchant_profiles")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_merchant_profiles_credit_code")),
    )
    with op.batch_alter_table("merchant_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_merchant_profiles_next_verification_due"),
            ["next_verification_due"],
            unique=False,
        )

    op.create_table(
        "product_images",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "thumbnail_file_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_product_images_file_id_stored_files")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_images_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thumbnail_file_id"],
            ["stored_files.id"],
            name=op.f("fk_product_images_thumbnail_file_id_stored_files"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_images")),
    )
    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_images_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "skus",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column(
            "specs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_skus_price_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_skus_stock_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_skus_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skus")),
        sa.UniqueConstraint("product_id", "code", name=op.f("uq_skus_product_id_code")),
    )
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skus_product_id"), ["product_id"], unique=False)

    op.create_table(
        "price_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("old_price_fen", sa.Integer(), nullable=True),
        sa.Column("new_price_fen", sa.Integer(), nullable=False),
        sa.Column("changed_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_price_changes_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_price_changes_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_price_changes_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_changes")),
    )
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.create_index("ix_price_changes_sku_at", ["sku_id", "changed_at"], unique=False)

    _create_product_search()


def _create_product_search() -> None:
    """Trigram search over product text: FTS5 on SQLite, pg_trgm on PostgreSQL."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE product_search USING fts5("
            "product_id UNINDEXED, body, tokenize='trigram')"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE TABLE product_search ("
        "product_id BIGINT PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE, "
        "body TEXT NOT NULL)"
    )
    op.execute(
        "CREATE INDEX ix_product_search_body_trgm ON product_search USING gin (body gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS product_search")
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_price_changes_sku_at")

    op.drop_table("price_changes")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skus_product_id"))

    op.drop_table("skus")
    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_images_product_id"))

    op.drop_table("product_images")
    with op.batch_alter_table("merchant_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merchant_profiles_next_verification_due"))

    op.drop_table("merchant_profiles")
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licences_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_licences_application_id"))

    op.drop_table("licences")
    with op.batch_alter_table("three_same_certifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_three_same_certifications_organisation_id"))

    op.drop_table("three_same_certifications")
    with op.batch_alter_table("stored_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_stored_files_owner_user_id"))
        batch_op.drop_index(batch_op.f("ix_stored_files_owner_organisation_id"))

    op.drop_table("stored_files")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_org_status")
        batch_op.drop_index(batch_op.f("ix_products_gtin"))
        batch_op.drop_index(batch_op.f("ix_products_category_id"))

    op.drop_table("products")
    with op.batch_alter_table("merchant_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_applications_status")
        batch_op.drop_index(batch_op.f("ix_merchant_applications_credit_code"))
        batch_op.drop_index(batch_op.f("ix_merchant_applications_applicant_user_id"))

    op.drop_table("merchant_applications")
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_versions_rule_id"))

    op.drop_table("rule_versions")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_categories_parent_id"))
        batch_op.drop_index(batch_op.f("ix_categories_consumption_type"))

    op.drop_table("categories")
