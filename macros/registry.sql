{#- The registry: every source, feed, reader and purchase event stream, declared once in
    dbt_project.yml (var `registry`; docs/registry.md), and the lists the models make of it.

    A var rather than yml `meta`: dbt renders a model's SQL while it parses, before the
    graph holds any yml, so a list built from `meta` would hide its ref() and source()
    calls from dbt (a model would need a hand-written `-- depends_on:` hint per entry); a
    var is there from the start, and every ref() and source() called from these lists
    while parsing is a dependency of the model that calls it.

        {%- for source_name, feed in landed_feeds() %} ... {{ source(source_name, feed) }}
        {%- for stream in purchase_streams() %} ... {{ ref(stream.events) }}

    Entries are dicts (registry_feeds, registry_readers, purchase_streams), each with the
    names of what holds it (`source`, `feed`) added. -#}


{#- ------------------------------------------------------------- the declaration -#}

{#- Every feed of every source, in the order declared: the feed's keys plus `source`. -#}
{% macro registry_feeds() -%}
    {%- set feeds = [] -%}
    {%- for source in var('registry')['sources'] -%}
        {%- for feed in source['feeds'] -%}
            {%- set entry = {'source': source['name'], 'kind': source['kind'],
                             'origin': 'delivered', 'readers': []} -%}
            {%- do entry.update(feed) -%}
            {%- do feeds.append(entry) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(feeds) }}
{%- endmacro %}

{#- One feed by name. -#}
{% macro registry_feed(name) -%}
    {%- for feed in registry_feeds() if feed['name'] == name -%}
        {{ return(feed) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no feed ' ~ name ~ ' in the registry') }}
{%- endmacro %}

{#- Every staging model that reads a feed: the reader's keys plus `source` and `feed`. -#}
{% macro registry_readers() -%}
    {%- set readers = [] -%}
    {%- for feed in registry_feeds() -%}
        {%- for reader in feed['readers'] -%}
            {%- set entry = {'source': feed['source'], 'feed': feed['name'],
                             'left_out': 'false', 'reexports': false} -%}
            {%- do entry.update(reader) -%}
            {%- do readers.append(entry) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(readers) }}
{%- endmacro %}

{#- One reader by its model's name. -#}
{% macro registry_reader(model_name) -%}
    {%- for reader in registry_readers() if reader['model'] == model_name -%}
        {{ return(reader) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no reader ' ~ model_name ~ ' in the registry') }}
{%- endmacro %}

{#- The platforms' purchase event streams, in the order of their union: platform, model
    (the staging model, read by its indexes for what was loaded), events (the relation with
    the stream's columns: the model unless declared), where (SQL over those columns: the rows
    that are purchase events; all when absent), touched_by ({model, key}: a model whose
    loads change the events of the stream's transactions), source, feed, records. -#}
{% macro purchase_streams() -%}
    {%- set streams = [] -%}
    {%- for reader in registry_readers() if reader.get('purchase_events') -%}
        {%- set stream = {'model': reader['model'], 'events': reader['model'],
                          'where': none, 'touched_by': none, 'snapshot': false,
                          'source': reader['source'],
                          'feed': reader['feed'], 'records': reader.get('records')} -%}
        {%- do stream.update(reader['purchase_events']) -%}
        {%- do streams.append(stream) -%}
    {%- endfor -%}
    {{ return(streams) }}
{%- endmacro %}

{#- Every relation a purchase event stream is read from (its model, its events relation, the
    model that touches it), each once: what an incremental reader of the streams depends on. -#}
{% macro purchase_stream_relations() -%}
    {%- set names = [] -%}
    {%- for stream in purchase_streams() -%}
        {%- set touching = [stream['touched_by']['model']] if stream['touched_by'] else [] -%}
        {%- for name in [stream['model'], stream['events']] + touching
                if name not in names -%}
            {%- do names.append(name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- The platforms that sell, in the order declared: the values of every `platform` column
    (accepted_values in the marts' and seeds' yml). -#}
{% macro registry_platforms() -%}
    {%- set platforms = [] -%}
    {%- for stream in purchase_streams() if stream['platform'] not in platforms -%}
        {%- do platforms.append(stream['platform']) -%}
    {%- endfor -%}
    {{ return(platforms) }}
{%- endmacro %}


{#- ------------------------------------------------------------- lists made of it -#}

{#- Every landed feed: (landing folder = dbt source, raw table). -#}
{% macro landed_feeds() -%}
    {%- set feeds = [] -%}
    {%- for feed in registry_feeds() -%}
        {%- do feeds.append((feed['source'], feed['name'])) -%}
    {%- endfor -%}
    {{ return(feeds) }}
{%- endmacro %}

{% macro landed_feed_relations() -%}
    {%- set relations = [] -%}
    {%- for source_name, feed in landed_feeds() -%}
        {%- do relations.append(raw_feed(source_name, feed)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}

{#- The staging models that record data issues: (source, feed, model, entity id column,
    when a row is left out of the marts — SQL over the model's columns). -#}
{% macro data_issue_readers() -%}
    {%- set readers = [] -%}
    {%- for reader in registry_readers() -%}
        {%- do readers.append((reader['source'], reader['feed'], reader['model'],
                               reader['entity'], reader['left_out'])) -%}
    {%- endfor -%}
    {{ return(readers) }}
{%- endmacro %}

{#- The ledger readers that keep a re-exported record once (is_superseded, is_duplicate):
    (feed, model). -#}
{% macro reexport_readers() -%}
    {%- set readers = [] -%}
    {%- for reader in registry_readers() if reader['reexports'] -%}
        {%- do readers.append((reader['feed'], reader['model'])) -%}
    {%- endfor -%}
    {{ return(readers) }}
{%- endmacro %}

{#- The feeds whose records may be of a kind no reader reads (listed by
    stg_platforms__unread_records). -#}
{% macro unread_feeds() -%}
    {%- set feeds = [] -%}
    {%- for feed in registry_feeds() if feed.get('unread') -%}
        {%- do feeds.append(feed) -%}
    {%- endfor -%}
    {{ return(feeds) }}
{%- endmacro %}

{% macro unread_feed_relations() -%}
    {%- set relations = [] -%}
    {%- for feed in unread_feeds() -%}
        {%- do relations.append(raw_feed(feed['source'], feed['name'])) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}


{#- ------------------------------------------------------------- which records -#}

{#- Whether a record (`json`: its payload; `delivered=true` for raw's column as delivered)
    is one of those a `records` declaration names. Every key given must hold:
      shape:   the record's JSON type (object, array)
      has_key: a top-level key the record has
      key:     a top-level key whose text is tested by
        in:      one of these values
        like:    matches one of these patterns
        not_in:  none of these values
    A record whose key is missing matches no test of it. No declaration: every record. -#}
{% macro records_filter(records, json, delivered=false) -%}
    {%- if not records -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set tests = [] -%}
    {%- if records.get('shape') -%}
        {%- do tests.append(json_type(json, delivered) ~ " = '" ~ records['shape'] ~ "'") -%}
    {%- endif -%}
    {%- if records.get('has_key') -%}
        {%- do tests.append(json_has_key(json, records['has_key'], delivered)) -%}
    {%- endif -%}
    {%- if records.get('key') -%}
        {%- set value = json_text(json, records['key']) -%}
        {%- set matches = [] -%}
        {%- if records.get('in') -%}
            {%- do matches.append(value ~ ' in (' ~ _quoted_list(records['in']) ~ ')') -%}
        {%- endif -%}
        {%- for pattern in records.get('like', []) -%}
            {%- do matches.append(value ~ ' like ' ~ _quoted(pattern)) -%}
        {%- endfor -%}
        {%- if matches -%}
            {%- do tests.append('(' ~ matches | join(' or ') ~ ')') -%}
        {%- endif -%}
        {%- if records.get('not_in') -%}
            {%- do tests.append(value ~ ' not in (' ~ _quoted_list(records['not_in']) ~ ')') -%}
        {%- endif -%}
    {%- endif -%}
    {{ return('(' ~ tests | join(' and ') ~ ')') }}
{%- endmacro %}

{#- The records the staging model `model_name` reads (its reader's `records`). -#}
{% macro reader_records(model_name, json, delivered=false) -%}
    {{ return(records_filter(registry_reader(model_name).get('records'), json, delivered)) }}
{%- endmacro %}

{#- The records of a feed that no reader reads and that are not deliberately ignored
    (its `unread` declaration's `ignore`). -#}
{% macro unread_records(feed, json, delivered=false) -%}
    {%- set read = [] -%}
    {%- for reader in feed['readers'] -%}
        {%- do read.append(records_filter(reader.get('records'), json, delivered)) -%}
    {%- endfor -%}
    {%- if feed['unread'].get('ignore') -%}
        {%- do read.append(records_filter(feed['unread']['ignore'], json, delivered)) -%}
    {%- endif -%}
    {{ return('not coalesce(' ~ (read | join(' or ') if read else 'false') ~ ', false)') }}
{%- endmacro %}

{% macro _quoted(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro _quoted_list(values) -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}
        {%- do quoted.append(_quoted(value)) -%}
    {%- endfor -%}
    {{ quoted | join(', ') }}
{%- endmacro %}


{#- ------------------------------------------------------------- raw tables -#}

{#- A feed's raw table, for a FROM clause. The loaders create every declared feed's table
    when they run; a warehouse loaded before a feed was declared has none, and a feed
    without a table has landed nothing: it reads as no rows, with the raw columns. While
    parsing, the source() call makes the feed a dependency of the caller. -#}
{% macro raw_feed(source_name, feed_name) -%}
    {%- set relation = source(source_name, feed_name) -%}
    {%- if execute and load_relation(relation) is none -%}
        {{ return(adapter.dispatch('empty_raw_feed', 'tallyhouse')(registry_feed(feed_name))) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{% macro postgres__empty_raw_feed(feed) -%}
    (
        select
            null::text as _file_name,
            null::text as _file_sha256,
            null::bigint as _line_no,
            null::bytea as _record_hash,
            null::timestamptz as _loaded_at,
            null::bigint as _load_seq,
            {%- if feed['format'] == 'csv' %}
            {%- for column in feed['columns'] %}
            null::text as {{ column }},
            {%- endfor %}
            {%- else %}
            null::json as payload,
            {%- endif %}
            null::bytea as _rewritten_hash
        where false
    )
{%- endmacro %}

{#- Spark: raw keeps the payload as the text delivered (string), hashes as binary. -#}
{% macro spark__empty_raw_feed(feed) -%}
    (
        select
            cast(null as string) as _file_name,
            cast(null as string) as _file_sha256,
            cast(null as bigint) as _line_no,
            cast(null as binary) as _record_hash,
            cast(null as timestamp) as _loaded_at,
            cast(null as bigint) as _load_seq,
            {%- if feed['format'] == 'csv' %}
            {%- for column in feed['columns'] %}
            cast(null as string) as {{ column }},
            {%- endfor %}
            {%- else %}
            cast(null as string) as payload,
            {%- endif %}
            cast(null as binary) as _rewritten_hash
        where false
    )
{%- endmacro %}

{#- The purchase streams' relations as depends_on comments: for a model that reads them
    only on an incremental build (deliveries_of_touched_transactions), which dbt does not
    see while it parses. -#}
{% macro depends_on_purchase_streams() -%}
    {%- for name in purchase_stream_relations() %}
-- depends_on: {{ ref(name) }}
    {%- endfor %}
{%- endmacro %}
