-- Rebuild the last 30 days.
CREATE TABLE IF NOT EXISTS r LIKE registration;
DELETE FROM r;  # start over
INSERT INTO r SELECT * FROM registration WHERE d > '2026-01-01' AND note <> 'a;b';
