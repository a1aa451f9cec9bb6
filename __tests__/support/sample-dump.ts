// A plain-SQL dump that looks like pg_dump's output for a small Odoo database, made on the
// fly (tests that need a real pg_dump use support/postgres.ts).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export async function writeSampleSqlDump(file: string, rows = 2000): Promise<void> {
  const out = createWriteStream(file);
  const w = async (s: string) => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await w('--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n');
  await w("SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n");
  await w('CREATE TABLE public.ir_module_module (id integer NOT NULL, name character varying NOT NULL, state character varying, latest_version character varying);\n');
  await w('CREATE TABLE public.res_partner (id integer NOT NULL, name character varying, email character varying, active boolean);\n\n');
  await w('COPY public.ir_module_module (id, name, state, latest_version) FROM stdin;\n1\tbase\tinstalled\t16.0.1.3\n2\tsale\tinstalled\t16.0.1.2\n3\tstock\tinstalled\t16.0.1.1\n\\.\n\n');
  await w('COPY public.res_partner (id, name, email, active) FROM stdin;\n');
  for (let i = 1; i <= rows; i++) await w(`${i}\tPartner ${i}\tpartner${i}@example.com\tt\n`);
  await w('\\.\n\n--\n-- PostgreSQL database dump complete\n--\n');
  out.end();
  await once(out, 'close');
}
