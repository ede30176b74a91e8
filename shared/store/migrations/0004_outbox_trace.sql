-- W3C trace context of the request that created each outbox event, so an
-- event the relay publishes later still continues that request's trace.
ALTER TABLE outbox ADD COLUMN trace_parent TEXT, ADD COLUMN trace_state TEXT;
