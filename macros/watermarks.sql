{#
    Where an incremental mart left off, kept beside the data rather than in it: a load
    number in a mart would make a run split in several runs differ from one run.

    watermark(): the highest load number (raw._load_seq) the model had read when it was
    last built; -1 before the first build. record_watermark(relation) (a post-hook) stores
    the highest last_load_seq of the relation the model was built from.
#}

{% macro create_watermark_table() %}
    create schema if not exists intermediate;
    create table if not exists intermediate._build_watermarks (
        model text primary key,
        last_load_seq bigint not null
    );
{% endmacro %}

{% macro watermark() -%}
    coalesce((
        select watermarks.last_load_seq
        from intermediate._build_watermarks as watermarks
        where watermarks.model = '{{ this.identifier }}'
    ), -1)
{%- endmacro %}

{% macro record_watermark(relation) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', coalesce(max(last_load_seq), -1) from {{ relation }}
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{#- The highest load number of raw relations a model has read (a post-hook), for a model
    whose own rows do not tell how far it read. -#}
{% macro record_raw_watermark(relations) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', greatest(
        -1
        {%- for relation in relations %},
        (select max(_load_seq) from {{ relation }})
        {%- endfor %}
    )
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}
