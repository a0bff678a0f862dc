/*
 * import.cpp — IMPORT FOREIGN SCHEMA: one CREATE FOREIGN TABLE per remote table, view,
 * materialized view, foreign or partitioned table of the remote schema (LIMIT TO /
 * EXCEPT honoured), with the remote column types and NOT NULL, and schema_name /
 * table_name options pointing back at the remote object.
 */
#include "pm_fdw.h"

extern "C" {
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
}

#include <cstring>

List *pmfdw_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
    ForeignServer *server = GetForeignServer(serverOid);
    UserMapping *user = GetUserMapping(GetUserId(), serverOid);
    PmFdwOptions opts;
    pmfdw_server_options(server, &opts);
    PmFdwConn *conn = pmfdw_connect(server, user, &opts, false);

    /* Does the schema exist? */
    const char *schema_param[1] = {stmt->remote_schema};
    PGresult *res = pmfdw_exec_params(conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                                      1, schema_param);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        pmfdw_report(ERROR, res, conn, "schema lookup");
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    if (!exists)
        ereport(ERROR, (errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
                        errmsg("schema \"%s\" is not present on tier \"%s\"", stmt->remote_schema,
                               opts.tier)));

    StringInfoData names;
    initStringInfo(&names);
    appendStringInfoChar(&names, '{');
    ListCell *lc;
    bool first = true;
    foreach (lc, stmt->table_list) {
        RangeVar *rv = (RangeVar *) lfirst(lc);
        if (!first)
            appendStringInfoChar(&names, ',');
        appendStringInfoChar(&names, '"');
        for (const char *p = rv->relname; *p; ++p) {
            if (*p == '"' || *p == '\\')
                appendStringInfoChar(&names, '\\');
            appendStringInfoChar(&names, *p);
        }
        appendStringInfoChar(&names, '"');
        first = false;
    }
    appendStringInfoChar(&names, '}');

    const char *filter = "";
    if (stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO)
        filter = " AND c.relname = ANY ($2::text[])";
    else if (stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT)
        filter = " AND NOT (c.relname = ANY ($2::text[]))";
    char *sql = psprintf(
        "SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'f', 'm', 'p')%s "
        "ORDER BY c.relname, a.attnum",
        filter);
    const char *params[2] = {stmt->remote_schema, names.data};
    res = pmfdw_exec_params(conn, sql, stmt->list_type == FDW_IMPORT_SCHEMA_ALL ? 1 : 2, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        pmfdw_report(ERROR, res, conn, sql);

    /* Copy out before anything may raise. */
    int n = PQntuples(res);
    char **rel = (char **) palloc0(sizeof(char *) * (n + 1));
    char **att = (char **) palloc0(sizeof(char *) * (n + 1));
    char **typ = (char **) palloc0(sizeof(char *) * (n + 1));
    bool *notnull = (bool *) palloc0(sizeof(bool) * (n + 1));
    for (int i = 0; i < n; ++i) {
        rel[i] = pstrdup(PQgetvalue(res, i, 0));
        att[i] = PQgetisnull(res, i, 1) ? nullptr : pstrdup(PQgetvalue(res, i, 1));
        typ[i] = PQgetisnull(res, i, 2) ? nullptr : pstrdup(PQgetvalue(res, i, 2));
        notnull[i] = strcmp(PQgetvalue(res, i, 3), "t") == 0;
    }
    PQclear(res);

    List *commands = NIL;
    int i = 0;
    while (i < n) {
        const char *relname = rel[i];
        StringInfoData buf;
        initStringInfo(&buf);
        appendStringInfo(&buf, "CREATE FOREIGN TABLE %s.%s (", quote_identifier(stmt->local_schema),
                         quote_identifier(relname));
        bool firstcol = true;
        for (; i < n && strcmp(rel[i], relname) == 0; ++i) {
            if (att[i] == nullptr)
                continue;
            if (!firstcol)
                appendStringInfoString(&buf, ", ");
            appendStringInfo(&buf, "%s %s OPTIONS (column_name ", quote_identifier(att[i]), typ[i]);
            pmfdw_append_literal(&buf, att[i]);
            appendStringInfoChar(&buf, ')');
            if (notnull[i])
                appendStringInfoString(&buf, " NOT NULL");
            firstcol = false;
        }
        appendStringInfo(&buf, ") SERVER %s OPTIONS (schema_name ",
                         quote_identifier(server->servername));
        pmfdw_append_literal(&buf, stmt->remote_schema);
        appendStringInfoString(&buf, ", table_name ");
        pmfdw_append_literal(&buf, relname);
        appendStringInfoString(&buf, ")");
        commands = lappend(commands, buf.data);
    }
    return commands;
}
