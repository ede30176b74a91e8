-- Catalogue, orders with their lines, and the transactional outbox.
CREATE TABLE products (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    price       NUMERIC(12,2) NOT NULL CHECK (price >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id               UUID PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    customer_name    TEXT NOT NULL,
    customer_email   TEXT NOT NULL,
    total            NUMERIC(12,2) NOT NULL CHECK (total >= 0),
    -- Idempotency-Key header of the request that created the order; NULLs never conflict.
    idempotency_key  TEXT UNIQUE,
    -- SHA-256 of the canonical request, to refuse a reused key with another body.
    request_hash     BYTEA,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    confirmed_at     TIMESTAMPTZ,
    rejected_at      TIMESTAMPTZ,
    rejection_reason TEXT
);

CREATE TABLE order_items (
    order_id    UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line        INTEGER NOT NULL,
    product_id  UUID NOT NULL REFERENCES products (id),
    name        TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price  NUMERIC(12,2) NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, line)
);

-- Events written in the same transaction as the state they describe; the
-- payload is kept as the exact bytes that are published.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      UUID NOT NULL UNIQUE,
    event_type    TEXT NOT NULL,
    subject       TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    payload       BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at  TIMESTAMPTZ,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
