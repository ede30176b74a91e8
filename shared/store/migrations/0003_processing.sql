-- Consumers: idempotency by event id (inbox) and the record of sent emails.
CREATE TABLE inbox (
    consumer      TEXT NOT NULL,
    event_id      UUID NOT NULL,
    processed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- One confirmation email per order; the row is inserted in the transaction
-- that is open while the SMTP server accepts the message.
CREATE TABLE sent_emails (
    order_id    UUID NOT NULL REFERENCES orders (id),
    kind        TEXT NOT NULL,
    event_id    UUID NOT NULL,
    recipient   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    -- smtp: handed to the SMTP server; log: no SMTP configured, only logged.
    transport   TEXT NOT NULL CHECK (transport IN ('smtp', 'log')),
    sent_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, kind)
);
