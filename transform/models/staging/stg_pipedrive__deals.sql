{#- Deals as loaded: every column, custom fields included, the relied-on ones typed, custom time-of-day fields
    as time and custom date fields as date (ranges' start and _until both); one deleted flag. -#}
{%- set deals = pipeboard_read_source('deals', passthrough=true) -%}
{%- set temporal = pipeboard_deal_temporal_columns(deals.columns) -%}

with source as (

    {{ deals.sql }}

),

final as (

    select
        {%- for column in deals.columns if column not in ('is_deleted', '_sdc_deleted_at', '_sdc_batched_at') %}
        {%- if column in temporal %}
        {{ pipeboard_as_temporal(adapter.quote(column), temporal[column], deals.types[column]) }}
            as {{ adapter.quote(column) }},
        {%- else %}
        {{ adapter.quote(column) }},
        {%- endif %}
        {%- endfor %}
        {{ pipeboard_is_deleted() }} as is_deleted,
        _sdc_batched_at
    from source

)

select * from final
