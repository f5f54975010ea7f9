{#
    Data tests on what changed. On an incremental build, a test of a model listed in the
    var `test_scope` looks only at the rows the build could have changed; on a full refresh
    (the weekly full pass, a first build, a changed project) at every row:

      loaded    rows with a _load_seq above the one the last build read through
      touched   rows of the transactions with an event loaded since the last build (read
                from int_transaction_events_mapped, upstream of every model so
                scoped: a test never reads a relation the build may still be
                replacing — on Spark a table rebuilt whole is missing meanwhile)

    A key unique within the changed rows is unique in the table when the key embeds the
    transaction (every `touched` grain here does) or is raw's unique record hash
    (`loaded`). dbt wraps the model of each generic test in get_where_subquery; this is
    its PostgreSQL version, the test's own `where` kept beside the scope.
#}

{% macro postgres__get_where_subquery(relation) -%}
    {%- do return(scoped_test_relation(relation, api.Relation.create(
        database=target.database, schema='intermediate',
        identifier='int_transaction_events_mapped'))) -%}
{%- endmacro %}

{#- Spark: dbt's default would drop the scope (every row tested): the same scoping. The
    profile has no database there (a Spark schema is a database). -#}
{% macro spark__get_where_subquery(relation) -%}
    {%- do return(scoped_test_relation(relation, api.Relation.create(
        schema='intermediate', identifier='int_transaction_events_mapped'))) -%}
{%- endmacro %}

{#- The relation a generic test reads: `relation` with the test's own `where` and its scope.
    The touched transactions are read as a list (in_rows_of): a semi-join with them was
    planned against the whole of a view's table (fct_transaction_fees: 0.35 s per test at a
    million transactions for no row; as a list, an index condition, 0.03 ms). -#}
{% macro scoped_test_relation(relation, events) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {#- raw's tables (the registry's feeds) are read by load number like a `loaded` model -#}
    {%- set raw_feeds = registry_feeds() | map(attribute='name') | list -%}
    {%- set scope = var('test_scope', {}).get(relation.identifier)
        or ('loaded' if relation.identifier in raw_feeds) -%}
    {%- if scope and execute -%}
        {%- set through = checked_through() | trim | int -%}
        {%- if through >= 0 and scope == 'loaded' -%}
            {%- do conditions.append('_load_seq > ' ~ through) -%}
        {%- elif through >= 0 and scope == 'touched' -%}
            {%- do conditions.append(in_rows_of('transaction_key', events, 'transaction_key',
                'wanted._load_seq > ' ~ through)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ')
            ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
