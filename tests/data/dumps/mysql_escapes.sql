-- MySQL dump 10.13
CREATE TABLE `comptes` (
  `id` int NOT NULL AUTO_INCREMENT,
  `email` varchar(255) DEFAULT NULL COMMENT 'adresse; principale',
  `nom` varchar(100) NOT NULL,
  `prenom` varchar(100),
  PRIMARY KEY (`id`),
  KEY `idx_email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `comptes` WRITE;
INSERT INTO `comptes` VALUES (1,'anne@example.fr','O\'BRIEN','Anne'),(2,NULL,'D''ARC','Jeanne'),(3,'x@example.fr','LIGNE\nDEUX','Back\\slash'),(4,'y@example.fr','VIDE','');
INSERT INTO `journal` (`id`, `texte`) VALUES (1,'(not a row), of comptes');
INSERT INTO `comptes` VALUES (5,'z@example.fr','COURT'),(6,'w@example.fr','PAREN (X)','a,b');
UNLOCK TABLES;
