/*!40101 SET NAMES utf8mb4 */;
/*M!100100 SET @x = 'a\';' */; SELECT `x``;y`, "q"";" --	c
FROM t /* ; */ WHERE a = 1--1;
