--
-- PostgreSQL database dump
--
SET standard_conforming_strings = on;

COPY public.personnes (id, nom, prenom, email) FROM stdin;
1	DUPONT	Zoé	zoe@example.fr
2	MAR\tTIN	\N	jean@example.fr
3	COURT
4	BACK\\SLASH		none@example.fr
\.

COPY public.autres (x) FROM stdin;
1
\.
