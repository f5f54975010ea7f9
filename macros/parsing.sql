{#- Parsing helpers shared by the staging models.

    Staging reads every field defensively: a value that does not cast becomes null in its
    column and an entry of the row's `data_issues` column (field, raw value, reason), which
    rpt_data_issues lists with the record's file and line. A model collects its checks in a
    list (`issues`) while its columns are written, and `data_issues_column(issues)` turns
    them into the column at the end:

        {%- set issues = [] %}
        ...
        {{ money("purchase -> 'price' ->> 'value'", 'data.purchase.price.value', issues) }}
            as offer_price,
        ...
        {{ data_issues_column(issues) }} as data_issues

    Dialect-specific SQL lives in `<adapter>__` macros behind adapter.dispatch (postgres
    now; spark later), so the models stay portable. -#}


{#- ------------------------------------------------------------------ safe casts -#}

{#- `expression` cast to `type`, or null when the text does not read as that type. -#}
{% macro safe_cast(expression, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__safe_cast(expression, type) -%}
    (case
        when pg_input_is_valid(({{ expression }})::text, '{{ type }}')
            then ({{ expression }})::{{ type }}
    end)::{{ type }}
{%- endmacro %}

{#- Whether the text reads as `type` (null text counts as readable). -#}
{% macro is_castable(expression, type) -%}
    {{ return(adapter.dispatch('is_castable', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__is_castable(expression, type) -%}
    coalesce(pg_input_is_valid(({{ expression }})::text, '{{ type }}'), true)
{%- endmacro %}

{#- The JSON type of a value: object, array, string, number, boolean, null. -#}
{% macro json_type(expression) -%}
    {{ return(adapter.dispatch('json_type', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__json_type(expression) -%}
    jsonb_typeof({{ expression }})
{%- endmacro %}

{#- The elements of a JSON array; nothing when the value is not an array. -#}
{% macro json_array_elements(expression) -%}
    {{ return(adapter.dispatch('json_array_elements', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__json_array_elements(expression) -%}
    jsonb_array_elements(
        case when jsonb_typeof({{ expression }}) = 'array' then {{ expression }} end
    )
{%- endmacro %}


{#- ------------------------------------------------------ checked field readers -#}
{#- Each returns the typed value (null when unreadable) and records the check. -#}

{% macro _record_issue(issues, field, raw, broken, reason) -%}
    {%- do issues.append({'field': field, 'raw': raw, 'broken': broken, 'reason': reason}) -%}
{%- endmacro %}

{#- A decimal amount in currency units ("97.5", 97.5). "1.234,56" is not guessed, and
    neither is a third decimal place. -#}
{% macro money(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- set exact = "case when pg_input_is_valid(" ~ raw ~ ", 'numeric(18, 2)') then "
        ~ raw ~ "::numeric = round(" ~ raw ~ "::numeric, 2) else false end" -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ raw ~ " is null then false else not (" ~ exact ~ ") end",
            'not an amount with at most 2 decimal places') -%}
    (case when {{ exact }} then ({{ raw }})::numeric(18, 2) end)::numeric(18, 2)
{%- endmacro %}

{#- Integer cents (Kiwify, Braspag, VTEX) to an amount in currency units. -#}
{% macro cents(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, 'bigint'),
                         'not a whole number of cents') -%}
    ({{ safe_cast(raw, 'bigint') }}::numeric / 100)::numeric(18, 2)
{%- endmacro %}

{% macro integer(expression, field, issues, type='integer') -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type),
                         'not a whole number') -%}
    {{ safe_cast(raw, type) }}
{%- endmacro %}

{% macro boolean(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, 'boolean'),
                         'not true or false') -%}
    {{ safe_cast(raw, 'boolean') }}
{%- endmacro %}

{#- A timestamp with its zone (ISO 8601), or in `assume_zone` when it has none. -#}
{% macro timestamp(expression, field, issues, assume_zone='UTC') -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, 'timestamptz'),
                         'not a date and time') -%}
    {{ local_to_utc(safe_cast(raw, 'timestamptz'), raw, assume_zone) }}
{%- endmacro %}

{#- Kiwify, Eduzz and Braspag send local Brazilian time without a zone. -#}
{% macro brt_timestamp(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, 'timestamp'),
                         'not a date and time') -%}
    {{ at_zone(safe_cast(raw, 'timestamp'), 'America/Sao_Paulo') }}
{%- endmacro %}

{#- Eduzz's legacy forms: a date 'YYYYMMDD' and a time 'HH24:MI:SS', Brazilian time. -#}
{% macro brt_date_time(date_expression, time_expression, field, issues) -%}
    {%- set raw = "nullif(" ~ date_expression ~ ", '') || ' ' || "
        ~ "coalesce(nullif(" ~ time_expression ~ ", ''), '00:00:00')" -%}
    {%- set readable = "(" ~ raw ~ ") ~ '^\\d{8} \\d{2}:\\d{2}:\\d{2}$' and "
        ~ is_castable("regexp_replace(" ~ raw ~ ", '^(\\d{4})(\\d{2})(\\d{2})', '\\1-\\2-\\3')",
                      'timestamp') -%}
    {%- do _record_issue(issues, field, raw, 'not (' ~ readable ~ ')',
                         'not a date YYYYMMDD and time HH:MM:SS') -%}
    case
        when {{ readable }} then {{ at_zone(
            "regexp_replace(" ~ raw ~ ", '^(\\d{4})(\\d{2})(\\d{2})', '\\1-\\2-\\3')::timestamp",
            'America/Sao_Paulo') }}
    end
{%- endmacro %}

{#- Hotmart sends epoch milliseconds. -#}
{% macro epoch_ms(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- set readable = "case when pg_input_is_valid(" ~ raw ~ ", 'numeric') then abs("
        ~ raw ~ "::numeric) <= 253402300799999 else false end" -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ raw ~ " is null then false else not (" ~ readable ~ ") end",
            'not a time in epoch milliseconds') -%}
    case when {{ readable }} then {{ epoch_ms_to_timestamp(raw ~ '::numeric') }} end
{%- endmacro %}

{% macro epoch_ms_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__epoch_ms_to_timestamp(expression) -%}
    to_timestamp(({{ expression }}) / 1000.0)
{%- endmacro %}

{#- A JSON object, or null (recorded) when the value is present but of another type. -#}
{% macro json_object(expression, field, issues) -%}
    {%- do _record_issue(issues, field, expression,
            json_type(expression) ~ " not in ('object', 'null')",
            "expected an object, got ' || " ~ json_type(expression) ~ " || '") -%}
    case when {{ json_type(expression) }} = 'object' then {{ expression }} end
{%- endmacro %}

{#- A JSON array, or null (recorded) when the value is present but of another type. -#}
{% macro json_array(expression, field, issues) -%}
    {%- do _record_issue(issues, field, expression,
            json_type(expression) ~ " not in ('array', 'null')",
            "expected an array, got ' || " ~ json_type(expression) ~ " || '") -%}
    case when {{ json_type(expression) }} = 'array' then {{ expression }} end
{%- endmacro %}

{#- A value the record cannot be placed without (transaction id, event time): recorded
    as missing when its raw text (`raw`, by default the expression) is null; the unified
    event tables leave such a record out. -#}
{% macro required(expression, field, issues, raw=none) -%}
    {%- do _record_issue(issues, field, 'null', '(' ~ (raw or expression) ~ ') is null',
                         'missing: the record cannot be placed without it') -%}
    {{ expression }}
{%- endmacro %}

{#- The row's data issues: a jsonb array of {field, value, reason}, empty when clean. -#}
{% macro data_issues_column(issues) -%}
    {{ return(adapter.dispatch('data_issues_column', 'tallyhouse')(issues)) }}
{%- endmacro %}

{% macro postgres__data_issues_column(issues) -%}
    {#- clean rows (nearly all) only evaluate the tests: no array is built for them -#}
    case
        when
            {%- for issue in issues %}
            coalesce({{ issue.broken }}, false){{ ' or' if not loop.last }}
            {%- endfor %}
            then jsonb_path_query_array(jsonb_build_array(
                {%- for issue in issues %}
                case when {{ issue.broken }} then jsonb_build_object(
                    'field', '{{ issue.field }}',
                    'value', left(({{ issue.raw }})::text, 200),
                    'reason', '{{ issue.reason }}'
                ) end{{ ',' if not loop.last }}
                {%- endfor %}
            ), '$[*] ? (@ != null)')
        else '[]'::jsonb
    end
{%- endmacro %}


{#- ------------------------------------------------------------- time zones -#}

{#- A timestamp without zone read as local time in `zone`, to timestamptz. -#}
{% macro at_zone(expression, zone) -%}
    {{ return(adapter.dispatch('at_zone', 'tallyhouse')(expression, zone)) }}
{%- endmacro %}

{% macro postgres__at_zone(expression, zone) -%}
    (({{ expression }}) at time zone '{{ zone }}')
{%- endmacro %}

{#- A timestamptz parsed from text; text without an explicit zone is local time in
    `zone` (not the database session's zone). -#}
{% macro local_to_utc(parsed, raw, zone) -%}
    case
        when ({{ raw }}) ~ '\d:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?)$'
            then {{ parsed }}
        else {{ at_zone(safe_cast(raw, 'timestamp'), zone) }}
    end
{%- endmacro %}


{#- ------------------------------------------------------------ raw records -#}

{#- The raw records of a feed with the payload parsed into jsonb, for a staging model's
    first (materialized) CTE. `filter` is a condition on the raw row. An incremental model
    reads only the records loaded after its last build: `_load_seq` is assigned under the
    load lock, so it grows in commit order and no interleaving of loads and builds skips
    a record. -#}
{#- `since`: the load number already read, when `this` does not keep it itself (a model
    that keeps only a few of the rows it reads records it with record_raw_watermark). -#}
{% macro raw_payloads(relation, filter=none, since=none) -%}
    select
        _record_hash,
        _file_name,
        _line_no,
        _load_seq,
        payload::jsonb as body
    from {{ relation }}
    where
        {{ filter if filter else 'true' }}
        {%- if is_incremental() and since is not none %}
        and _load_seq > {{ since }}
        {%- elif is_incremental() %}
        and {{ loaded_since_last_build() }}
        {%- endif %}
{%- endmacro %}

{#- The raw rows (CSV feeds) of a relation, incrementally like raw_payloads. -#}
{% macro raw_rows(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ loaded_since_last_build() }}
    {%- endif %}
{%- endmacro %}

{#- Rows of raw loaded after what `this` has read. A table built before it kept
    _load_seq reads everything again. -#}
{% macro loaded_since_last_build() -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if '_load_seq' in built -%}
    _load_seq > (select coalesce(max(_load_seq), -1) from {{ this }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}


{#- ------------------------------------------------------------------ keys -#}

{#- The key of a platform transaction across the marts. -#}
{% macro transaction_key(platform, platform_transaction_id) -%}
    md5({{ platform }} || ':' || {{ platform_transaction_id }})
{%- endmacro %}

{#- A surrogate key from columns (what dbt_utils.generate_surrogate_key does). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for column in columns -%}
        , coalesce(cast({{ column }} as text), '∅')
    {%- endfor -%}
    ))
{%- endmacro %}

{#- Transactions with an event loaded since the model's last build, for incremental
    models keyed on transaction_key. A table built before it recorded last_load_seq is
    recomputed whole. -#}
{% macro touched_transactions(events) -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set since = -1 -%}
    {%- if execute and 'last_load_seq' in built -%}
        {#- a constant: the planner reads the new events by their index -#}
        {%- set since = run_query("select coalesce(max(last_load_seq), -1) from " ~ this)
            .columns[0].values()[0] -%}
    {%- endif %}
    select distinct transaction_key
    from {{ events }}
    where _load_seq > {{ since }}
{%- endmacro %}

{#- A value that should be there: recorded as missing when null (the record still
    builds, with a null in that column). -#}
{% macro expected(expression, field, issues, raw=none) -%}
    {%- do _record_issue(issues, field, 'null', '(' ~ (raw or expression) ~ ') is null',
                         'missing') -%}
    {{ expression }}
{%- endmacro %}

{#- Records an unreadable element field of a JSON array: true when some element's
    `key` is present and does not read as `type`. -#}
{% macro check_elements(array_expression, key, type, field, issues) -%}
    {%- do _record_issue(issues, field,
            "(select string_agg(e ->> '" ~ key ~ "', ', ') from "
            ~ json_array_elements(array_expression) ~ " as e)",
            "exists (select from " ~ json_array_elements(array_expression) ~ " as e where not "
            ~ is_castable("nullif(e ->> '" ~ key ~ "', '')", type) ~ ")",
            'an element is not a ' ~ type) -%}
{%- endmacro %}


{#- The key of a product across platforms: its normalized name (a record whose product
    has no readable name is one product, "(product not named)", not a null key). -#}
{% macro product_key(product_name) -%}
    md5(lower(trim(coalesce({{ product_name }}, '(product not named)'))))
{%- endmacro %}

{#- A value of a closed vocabulary: recorded when present and not one of `values`. -#}
{% macro one_of(expression, values, field, issues) -%}
    {%- set listed = "'" ~ (values | join("', '")) ~ "'" -%}
    {%- do _record_issue(issues, field, expression,
            "coalesce((" ~ expression ~ ") not in (" ~ listed ~ "), false)",
            'not one of ' ~ (values | join(', '))) -%}
    {{ expression }}
{%- endmacro %}

{#- The business day of a timestamptz: its date in var('business_time_zone'), independent
    of the database session's time zone. -#}
{% macro business_date(expression) -%}
    {{ return(adapter.dispatch('business_date', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__business_date(expression) -%}
    (({{ expression }}) at time zone '{{ var("business_time_zone") }}')::date
{%- endmacro %}

{#- A calendar date ('2026-05-01'); recorded when it does not read as one. -#}
{% macro date_value(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, 'date'),
                         'not a date') -%}
    {{ safe_cast(raw, 'date') }}
{%- endmacro %}

{#- A timestamptz as text for keys: in UTC, so a key does not depend on the session's
    time zone. -#}
{% macro utc_text(expression) -%}
    {{ return(adapter.dispatch('utc_text', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__utc_text(expression) -%}
    (({{ expression }}) at time zone 'UTC')::text
{%- endmacro %}

{#- For a ledger re-exported with other bytes: keep one record per business `key`, the
    first delivered (lowest load number, then file and line: load numbers are drawn in
    commit order and never change, so a full refresh keeps the record an incremental run
    kept), and say why each later one is set aside. One with the same typed `values` (a
    payout amount 23.280 for 23.28, a timestamp in another format) is a duplicate
    (is_duplicate): the file reconciliation counts it as such, it is not a data issue. One
    with other values is a conflicting re-export, listed in rpt_data_issues. A record whose
    key is incomplete is never set aside (the marts leave it out, as a data issue). Adds
    is_superseded, is_duplicate and superseded_because. -#}
{% macro superseded_columns(key, values) -%}
    {%- set window = "over (partition by " ~ (key | join(', '))
        ~ " order by _load_seq, source_file, source_line)" -%}
    {%- set later = "(" ~ (key | join(' is not null and ')) ~ " is not null and row_number() "
        ~ window ~ " > 1)" -%}
    {%- set content = surrogate_key(values) -%}
    {%- set same_values = content ~ " = first_value(" ~ content ~ ") " ~ window -%}
    {{ later }} as is_superseded,
    ({{ later }} and {{ same_values }}) as is_duplicate,
    case
        when not {{ later }} then null
        when {{ same_values }}
            then 'duplicate: a re-export of the same {{ key | join(", ") }} with the same '
            || 'values (other formatting); the first delivered is used'
        else 'conflicting re-export: the same {{ key | join(", ") }} with other values ('
            || concat_ws(', ', {{ values | join(', ') }}) || '); the marts use the first '
            || 'delivered: ' || first_value(concat_ws(', ', {{ values | join(', ') }})) {{ window }}
    end as superseded_because
{%- endmacro %}

{#- The columns every Hotmart webhook starts with: its event id (the record hash when the
    id is missing), event name and event time (epoch ms, required). -#}
{% macro hotmart_event_header(issues) -%}
    coalesce(
            {{ expected("body ->> 'id'", 'id', issues) }},
            'record:' || encode(_record_hash, 'hex')
        ) as source_event_id,
        body ->> 'event' as event_name,
        {{ required(epoch_ms("body ->> 'creation_date'", 'creation_date', issues),
                    'creation_date', issues, raw="body ->> 'creation_date'") }} as event_at,
{%- endmacro %}
