-- Runs after examples/mysql/seed.sql on the first start of the stack's
-- MariaDB: the nightshift user (created by MARIADB_USER, owner of the
-- `nightshift` state database) may also work in the example's databases.
GRANT ALL PRIVILEGES ON dmp.* TO 'nightshift'@'%';
GRANT ALL PRIVILEGES ON dmp_warehouse.* TO 'nightshift'@'%';
