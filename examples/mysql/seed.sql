-- Demo data for the MySQL variant of the kpi job: the "big MySQL database" of
-- the platform (database dmp: registrations, lessons, sales over the last 60
-- days) and the warehouse the daily KPI rows are loaded into (dmp_warehouse).
-- MariaDB 10.2+ / MySQL 8 (recursive CTEs). Rerunnable: it starts from scratch.
DROP DATABASE IF EXISTS dmp;
DROP DATABASE IF EXISTS dmp_warehouse;
CREATE DATABASE dmp CHARACTER SET utf8mb4;
CREATE DATABASE dmp_warehouse CHARACTER SET utf8mb4;
USE dmp;

CREATE TABLE registration (
  registration_id INT AUTO_INCREMENT PRIMARY KEY, student_id INT NOT NULL,
  course VARCHAR(32) NOT NULL, lesson_date DATE NOT NULL, KEY (lesson_date));
CREATE TABLE lesson (
  lesson_id INT AUTO_INCREMENT PRIMARY KEY, teacher_id INT NOT NULL, student_id INT NOT NULL,
  minutes INT NOT NULL, lesson_date DATE NOT NULL, KEY (lesson_date));
CREATE TABLE lesson_day (lesson_id INT, teacher_id INT, student_id INT, minutes INT);
CREATE TABLE sales (
  order_id INT AUTO_INCREMENT PRIMARY KEY, student_id INT NOT NULL, amount INT NOT NULL,
  refunded INT NOT NULL DEFAULT 0, paid_on DATE NOT NULL, KEY (paid_on));
CREATE TABLE sales_day (order_id INT, student_id INT, net_amount INT);
CREATE TABLE kpi_daily (
  day DATE PRIMARY KEY, lessons INT, lesson_minutes INT, active_students INT,
  revenue BIGINT, registrations_30d INT);
CREATE TABLE dmp_warehouse.kpi_daily LIKE kpi_daily;

-- 60 days x 200 registrations, 400 lessons and 50 orders a day. Row numbers
-- come from a cross join of digits: recursive CTEs are capped differently by
-- MySQL (cte_max_recursion_depth) and MariaDB (max_recursive_iterations).
CREATE TABLE seq (i INT PRIMARY KEY);
INSERT INTO seq
  WITH d(n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7
                UNION ALL SELECT 8 UNION ALL SELECT 9)
  SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n
    FROM d a, d b, d c, d e, d f WHERE f.n < 3;
INSERT INTO lesson (teacher_id, student_id, minutes, lesson_date)
  SELECT i % 150, (i * 31) % 5000, 25 + (i % 3) * 20, CURRENT_DATE() - INTERVAL (i % 60) DAY
    FROM seq WHERE i < 24000;
INSERT INTO registration (student_id, course, lesson_date)
  SELECT (i * 17) % 5000, CONCAT('course-', i % 12), CURRENT_DATE() - INTERVAL (i % 60) DAY
    FROM seq WHERE i < 12000;
INSERT INTO sales (student_id, amount, refunded, paid_on)
  SELECT (i * 13) % 5000, 1000 + (i % 7) * 500, IF(i % 20 = 0, 500, 0),
         CURRENT_DATE() - INTERVAL (i % 60) DAY
    FROM seq WHERE i < 3000;
DROP TABLE seq;
