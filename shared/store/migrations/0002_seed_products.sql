-- Seed catalogue so a fresh install can take orders at once. The ids are
-- fixed and documented (README, API docs) so curl examples keep working.
INSERT INTO products (id, name, price, stock) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'Coffee beans 1 kg', 24.90, 100),
    ('a0000000-0000-4000-8000-000000000002', 'Ceramic mug',        9.50, 250),
    ('a0000000-0000-4000-8000-000000000003', 'Pour-over filter',    4.25, 500),
    ('a0000000-0000-4000-8000-000000000004', 'Hand grinder',       59.00,  20),
    ('a0000000-0000-4000-8000-000000000005', 'Gift card',          25.00, 1000)
ON CONFLICT (id) DO NOTHING;
