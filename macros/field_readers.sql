{#- Checked field readers: how staging reads every field defensively.

    A value that does not cast becomes null in its column and an entry of the row's
    `data_issues` column (field, raw value, reason), which rpt_data_issues lists with the
    record's file and line. A model collects its checks in a list (`issues`) while its
    columns are written, and `data_issues_column(issues)` turns them into the column at
    the end:

        {%- set issues = [] %}
        ...
        {{ money(json_text('purchase', 'price', 'value'), 'data.purchase.price.value',
                 issues) }} as offer_price,
        ...
        {{ data_issues_column(issues) }} as data_issues

    Each reader returns the typed value (null when unreadable) and records its check; the
    casts are the safe casts of macros/casts.sql, so the readers themselves are the
    warehouse's SQL. -#}

{% macro _record_issue(issues, field, raw, broken, reason) -%}
    {%- do issues.append({'field': field, 'raw': raw, 'broken': broken, 'reason': reason}) -%}
{%- endmacro %}


{#- ------------------------------------------------------------- numbers -#}

{#- A decimal amount in currency units ("97.5", 97.5). "1.234,56" is not guessed, and
    neither is a third decimal place. -#}
{% macro money(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- set number = cast_checked(raw, type_numeric()) -%}
    {%- set exact = "case when " ~ is_castable(raw, type_money()) ~ " then " ~ number
        ~ " = round(" ~ number ~ ", 2) else false end" -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ raw ~ " is null then false else not (" ~ exact ~ ") end",
            'not an amount with at most 2 decimal places') -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ exact ~ " then not " ~ within_ceiling(number) ~ " else false end",
            ceiling_reason()) -%}
    cast(case when {{ exact }} and {{ within_ceiling(number) }}
        then {{ cast_checked(raw, type_money()) }} end as {{ type_money() }})
{%- endmacro %}

{#- Integer cents (Kiwify, Braspag, VTEX) to an amount in currency units. -#}
{% macro cents(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type_bigint()),
                         'not a whole number of cents') -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ is_castable(raw, type_bigint()) ~ " then not "
            ~ within_ceiling(cast_checked(raw, type_numeric()) ~ " / 100")
            ~ " else false end", ceiling_reason()) -%}
    {{ amount_of_cents(safe_cast(raw, type_bigint())) }}
{%- endmacro %}

{#- A number of cents (already read) as an amount in currency units; null above the
    plausible ceiling (never an overflow of the money type). -#}
{% macro amount_of_cents(expression) -%}
    {%- set units = 'cast(' ~ expression ~ ' as ' ~ type_numeric() ~ ') / 100' -%}
    cast(case when {{ within_ceiling(units) }} then {{ units }} end as {{ type_money() }})
{%- endmacro %}

{#- Cents already read as a whole number, or null above the plausible ceiling: sums of
    such values never overflow the money type. -#}
{% macro plausible_cents(expression) -%}
    case
        when {{ within_ceiling('cast(' ~ expression ~ ' as ' ~ type_numeric() ~ ') / 100') }}
            then {{ expression }}
    end
{%- endmacro %}

{#- Records cents (text) above the plausible ceiling, for a value read with integer(). -#}
{% macro cents_ceiling_issue(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ is_castable(raw, type_bigint()) ~ " then not "
            ~ within_ceiling(cast_checked(raw, type_numeric()) ~ " / 100")
            ~ " else false end", ceiling_reason()) -%}
{%- endmacro %}

{#- An amount of money from text, or null: at most 2 decimal places and no larger than the
    plausible ceiling. For amounts inside arrays (commission lines), whose issues are
    recorded with is_money. -#}
{% macro money_value(expression) -%}
    case when {{ is_money(expression) }} then {{ cast_checked(expression, type_money()) }} end
{%- endmacro %}

{#- Whether text reads as an amount within the ceiling (null text counts as readable). -#}
{% macro is_money(expression) -%}
    (({{ expression }}) is null or case
        when {{ is_castable(expression, type_money()) }}
            then {{ within_ceiling(cast_checked(expression, type_numeric())) }}
        else false
    end)
{%- endmacro %}

{#- An amount no larger than var('money_ceiling') (in currency units, either sign): above it
    an amount is implausible — left out, a data issue, and never an overflow. -#}
{% macro within_ceiling(number) -%}
    coalesce(abs({{ number }}) <= {{ var('money_ceiling') }}, true)
{%- endmacro %}

{% macro ceiling_reason() -%}
    {{- 'implausible: above the ceiling of ' ~ var('money_ceiling') ~ ' (var money_ceiling)' -}}
{%- endmacro %}

{#- A time that cannot be right for this platform: before it existed (var platform_since)
    or more than a day in the future. Recorded as a data issue with the time (UTC) and left
    out (null): an implausible date never lands in a day of the marts nor stretches a date
    range. `expression` is the time already read. -#}
{% macro plausible_time(expression, platform, field, issues) -%}
    {%- set since = var('platform_since')[platform] -%}
    {%- set at = '(' ~ expression ~ ')' -%}
    {%- set early = at ~ " < cast('" ~ since ~ "' as " ~ type_timestamp() ~ ")" -%}
    {%- set late = at ~ " > " ~ dbt.dateadd('day', 1, 'current_timestamp') -%}
    {%- do _record_issue(issues, field, utc_text(at), early,
            'implausible: before ' ~ platform ~ ' existed (' ~ since ~ ')') -%}
    {%- do _record_issue(issues, field, utc_text(at), late,
            'implausible: more than a day in the future') -%}
    case when not ({{ early }}) and not ({{ late }}) then {{ at }} end
{%- endmacro %}

{#- An approval before its order: recorded (both times are kept). -#}
{% macro approved_after_order(ordered, approved, field, issues) -%}
    {%- do _record_issue(issues, field, utc_text(approved),
            '(' ~ approved ~ ') < (' ~ ordered ~ ')',
            'implausible: approved before it was ordered') -%}
{%- endmacro %}

{#- A whole number (`type` type_int() unless given, e.g. type_bigint()). -#}
{% macro integer(expression, field, issues, type=none) -%}
    {%- set type = type or type_int() -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type),
                         'not a whole number') -%}
    {{ safe_cast(raw, type) }}
{%- endmacro %}

{#- true or false. -#}
{% macro boolean(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type_boolean()),
                         'not true or false') -%}
    {{ safe_cast(raw, type_boolean()) }}
{%- endmacro %}


{#- ------------------------------------------------------------- dates and times -#}

{#- A timestamp with its zone (ISO 8601), or in `assume_zone` when it has none. -#}
{% macro timestamp(expression, field, issues, assume_zone='UTC') -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type_timestamp()),
                         'not a date and time') -%}
    {{ local_to_utc(safe_cast(raw, type_timestamp()), raw, assume_zone) }}
{%- endmacro %}

{#- Kiwify, Eduzz and Braspag send local Brazilian time without a zone. -#}
{% macro brt_timestamp(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type_local_timestamp()),
                         'not a date and time') -%}
    {{ at_zone(safe_cast(raw, type_local_timestamp()), 'America/Sao_Paulo') }}
{%- endmacro %}

{#- Eduzz's legacy forms: a date 'YYYYMMDD' and a time 'HH24:MI:SS', Brazilian time. -#}
{% macro brt_date_time(date_expression, time_expression, field, issues) -%}
    {%- set raw = "nullif(" ~ date_expression ~ ", '') || ' ' || "
        ~ "coalesce(nullif(" ~ time_expression ~ ", ''), '00:00:00')" -%}
    {%- set iso = regex_replace(raw, '^(\\d{4})(\\d{2})(\\d{2})', '\\1-\\2-\\3') -%}
    {%- set readable = matches_regex(raw, '^\\d{8} \\d{2}:\\d{2}:\\d{2}$') ~ " and "
        ~ is_castable(iso, type_local_timestamp()) -%}
    {%- do _record_issue(issues, field, raw, 'not (' ~ readable ~ ')',
                         'not a date YYYYMMDD and time HH:MM:SS') -%}
    case
        when {{ readable }} then {{ at_zone(
            cast_checked(iso, type_local_timestamp()), 'America/Sao_Paulo') }}
    end
{%- endmacro %}

{#- Hotmart sends epoch milliseconds. -#}
{% macro epoch_ms(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- set number = cast_checked(raw, type_numeric()) -%}
    {%- set readable = "case when " ~ is_castable(raw, type_numeric()) ~ " then abs("
        ~ number ~ ") <= 253402300799999 else false end" -%}
    {%- do _record_issue(issues, field, raw,
            "case when " ~ raw ~ " is null then false else not (" ~ readable ~ ") end",
            'not a time in epoch milliseconds') -%}
    case when {{ readable }} then {{ epoch_ms_to_timestamp(number) }} end
{%- endmacro %}

{#- A calendar date ('2026-05-01'); recorded when it does not read as one. -#}
{% macro date_value(expression, field, issues) -%}
    {%- set raw = 'nullif(' ~ expression ~ ", '')" -%}
    {%- do _record_issue(issues, field, raw, 'not ' ~ is_castable(raw, type_date()),
                         'not a date') -%}
    {{ safe_cast(raw, type_date()) }}
{%- endmacro %}


{#- ------------------------------------------------------------- JSON shapes -#}

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

{#- Records an unreadable element field of a JSON array: true when some element's
    `key` is present and does not read as `type`. -#}
{% macro check_elements(array_expression, key, type, field, issues, cents=false) -%}
    {%- set element = json_text('e.value', key) -%}
    {%- do _record_issue(issues, field,
            json_elements_text(array_expression, 'e', element, "', '"),
            json_elements_exist(array_expression, 'e', "not "
                ~ is_castable("nullif(" ~ element ~ ", '')", type)),
            'an element is not a ' ~ type) -%}
    {%- if cents %}
    {%- do _record_issue(issues, field,
            json_elements_text(array_expression, 'e', element, "', '"),
            json_elements_exist(array_expression, 'e', "case when "
                ~ is_castable("nullif(" ~ element ~ ", '')", type) ~ " then not "
                ~ within_ceiling(cast_checked("nullif(" ~ element ~ ", '')", type_numeric())
                                 ~ " / 100") ~ " else false end"),
            ceiling_reason()) -%}
    {%- endif %}
{%- endmacro %}


{#- ------------------------------------------------------------- presence and vocabulary -#}

{#- A value the record cannot be placed without (transaction id, event time): recorded
    as missing when its raw text (`raw`, by default the expression) is null; the unified
    event tables leave such a record out. -#}
{% macro required(expression, field, issues, raw=none) -%}
    {%- do _record_issue(issues, field, 'null', '(' ~ (raw or expression) ~ ') is null',
                         'missing: the record cannot be placed without it') -%}
    {{ expression }}
{%- endmacro %}

{#- A value that should be there: recorded as missing when null (the record still
    builds, with a null in that column). -#}
{% macro expected(expression, field, issues, raw=none) -%}
    {%- do _record_issue(issues, field, 'null', '(' ~ (raw or expression) ~ ') is null',
                         'missing') -%}
    {{ expression }}
{%- endmacro %}

{#- A value of a closed vocabulary: recorded when present and not one of `values`. -#}
{% macro one_of(expression, values, field, issues) -%}
    {%- set listed = "'" ~ (values | join("', '")) ~ "'" -%}
    {%- do _record_issue(issues, field, expression,
            "coalesce((" ~ expression ~ ") not in (" ~ listed ~ "), false)",
            'not one of ' ~ (values | join(', '))) -%}
    {{ expression }}
{%- endmacro %}


{#- ------------------------------------------------------------- the row's issues -#}

{#- The row's data issues: a JSON array of {field, value, reason}, empty when clean. -#}
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

{#- Spark: the same array as a VARIANT (built JSON is VARIANT inside queries), its clean
    form json_empty_array(). to_variant_object writes an object's keys sorted (field,
    reason, value) where jsonb writes field, value, reason: equal as JSON, not as text. -#}
{% macro spark__data_issues_column(issues) -%}
    {#- each test written once (not once to decide and once to build): an empty array of
        structs gives the same '[]' as json_empty_array() -#}
    to_variant_object(array_compact(array(
        {%- for issue in issues %}
        case when {{ issue.broken }} then named_struct(
            'field', '{{ issue.field }}',
            'value', left({{ tallyhouse._spark_issue_text(issue.raw) }}, 200),
            'reason', '{{ issue.reason }}'
        ) end{{ ',' if not loop.last }}
        {%- endfor %}
    )))
{%- endmacro %}

{#- Spark: a raw value as text, like PostgreSQL's `::text`: a JSON (VARIANT) value as its
    JSON text ("abc" with its quotes, as jsonb prints it; objects and arrays come out
    compact, where jsonb puts a space after ':' and ','), anything else cast. A bare `null`
    (a missing value's raw text) is a null string: an untyped null cannot become VARIANT. -#}
{% macro _spark_issue_text(raw) -%}
    {%- if (raw | string | trim | lower) == 'null' -%}
    cast(null as string)
    {%- else -%}
    {%- set x = tallyhouse._spark_let_name(raw) -%}
    {%- set body -%}
    case
        when {{ x }} is null then null
        when typeof({{ x }}) = 'variant' then regexp_extract(
            to_json(to_variant_object(named_struct('v', {{ x }}))), '^[{]"v":(.*)[}]$', 1)
        else cast({{ x }} as string)
    end
    {%- endset -%}
    {{ tallyhouse._spark_let(raw, x, body) }}
    {%- endif -%}
{%- endmacro %}

{#- Whether a row's data_issues column holds any issue. -#}
{% macro has_data_issues(data_issues) -%}
    {{ return(adapter.dispatch('has_data_issues', 'tallyhouse')(data_issues)) }}
{%- endmacro %}

{% macro postgres__has_data_issues(data_issues) -%}
    {{ data_issues }} <> {{ json_empty_array() }}
{%- endmacro %}

{#- Spark: a VARIANT cannot be compared; its JSON text can. -#}
{% macro spark__has_data_issues(data_issues) -%}
    to_json({{ data_issues }}) <> '[]'
{%- endmacro %}


{#- ------------------------------------------------------------- platform headers -#}

{#- The columns every Hotmart webhook starts with: its event id (the record hash when the
    id is missing), event name and event time (epoch ms, required). -#}
{% macro hotmart_event_header(issues) -%}
    coalesce(
            {{ expected(json_text('body', 'id'), 'id', issues) }},
            'record:' || {{ bytes_to_hex('_record_hash') }}
        ) as source_event_id,
        {{ json_text('body', 'event') }} as event_name,
        {{ required(epoch_ms(json_text('body', 'creation_date'), 'creation_date', issues),
                    'creation_date', issues, raw=json_text('body', 'creation_date')) }}
            as event_at,
{%- endmacro %}

{#- Sales API records (`tallyhouse backfill`): the instant the page that first delivered the
    record was fetched, read from its file name (raw's _file_name; the name's form is
    tallyhouse.sources.API_PAGE_NAME: <feed>-<first day>-<last day>-<filter>-p<page>-
    <YYYYMMDDTHHMMSSffffff>Z.jsonl, UTC). An API record is a snapshot of the sale when it
    was fetched: this is its event time (DECISIONS.md, 2026-12-03). A file whose name holds
    no fetch time (renamed by hand) is recorded under the field `_file_name`. -#}
{% macro api_fetched_at(file_name, issues) -%}
    {%- set pattern = '^(.*/)?[a-z_]+-\\d{8}-\\d{8}-[A-Za-z_]+-p\\d{5}-'
        ~ '(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})(\\d{6})Z\\.jsonl$' -%}
    {%- set iso = regex_replace(file_name, pattern, '\\2-\\3-\\4 \\5:\\6:\\7.\\8') -%}
    {%- set readable = "coalesce(" ~ matches_regex(file_name, pattern) ~ ", false) and "
        ~ is_castable(iso, type_local_timestamp()) -%}
    {%- do _record_issue(issues, '_file_name', file_name, 'not (' ~ readable ~ ')',
            'not an API page name with its fetch time (tallyhouse backfill)') -%}
    case
        when {{ readable }} then {{ at_zone(
            cast_checked(iso, type_local_timestamp()), 'UTC') }}
    end
{%- endmacro %}
