-- Demo data for the example jobs: a small "source database" shaped like the
-- nightly KPI platform's (registrations, lessons, sales, material views) over
-- the last 60 days, plus the tables the extracts and aggregates write to.
-- Idempotent: scripts/demo loads it only into a new var/dmp.db.
PRAGMA journal_mode = WAL;

CREATE TABLE registration (
  registration_id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL,
  course TEXT NOT NULL, lesson_date TEXT NOT NULL);
CREATE TABLE registration_recent AS SELECT * FROM registration WHERE 0;
CREATE TABLE lesson (
  lesson_id INTEGER PRIMARY KEY, teacher_id INTEGER NOT NULL, student_id INTEGER NOT NULL,
  minutes INTEGER NOT NULL, lesson_date TEXT NOT NULL);
CREATE TABLE lesson_day (lesson_id INTEGER, teacher_id INTEGER, student_id INTEGER, minutes INTEGER);
CREATE TABLE sales (
  order_id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL, amount INTEGER NOT NULL,
  refunded INTEGER NOT NULL DEFAULT 0, paid_on TEXT NOT NULL);
CREATE TABLE sales_day (order_id INTEGER, student_id INTEGER, net_amount INTEGER);
CREATE TABLE kpi_daily (
  day TEXT PRIMARY KEY, lessons INTEGER, lesson_minutes INTEGER, active_students INTEGER,
  revenue INTEGER, registrations_30d INTEGER);
CREATE TABLE material_view (
  view_id INTEGER PRIMARY KEY, material_id INTEGER NOT NULL, lesson_id INTEGER NOT NULL,
  viewed_on TEXT NOT NULL);
CREATE TABLE material_view_day (material_id INTEGER, lesson_id INTEGER);
CREATE TABLE material_usage_daily (
  day TEXT, material_id INTEGER, views INTEGER, lessons INTEGER, PRIMARY KEY (day, material_id));

-- 60 days x 200 registrations, 400 lessons, 50 orders and 1,000 material views a day.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 59999)
INSERT INTO material_view (material_id, lesson_id, viewed_on)
  SELECT (i * 7919) % 300, i % 24000, date('now', '-' || (i % 60) || ' days') FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 23999)
INSERT INTO lesson (teacher_id, student_id, minutes, lesson_date)
  SELECT i % 150, (i * 31) % 5000, 25 + (i % 3) * 20, date('now', '-' || (i % 60) || ' days') FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 11999)
INSERT INTO registration (student_id, course, lesson_date)
  SELECT (i * 17) % 5000, 'course-' || (i % 12), date('now', '-' || (i % 60) || ' days') FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999)
INSERT INTO sales (student_id, amount, refunded, paid_on)
  SELECT (i * 13) % 5000, 1000 + (i % 7) * 500, CASE WHEN i % 20 = 0 THEN 500 ELSE 0 END,
         date('now', '-' || (i % 60) || ' days') FROM n;
