{#- A warning, not a failure: custom time and date values of deals that are not a time of day or a date.
    main_bi shows them as NULL; the loaded deals table keeps them as they came. One row per deal and column. -#}
{{ config(severity='warn') }}
{%- set deals = pipeboard_read_source('deals', passthrough=true) -%}
{%- set temporal = pipeboard_deal_temporal_columns(deals.columns) -%}

with source as (

    {{ deals.sql }}

)

{% for column, kind in temporal.items() -%}
select
    id as deal_id,
    {{ pipeboard_literal(column) }} as column_name,
    cast({{ adapter.quote(column) }} as text) as loaded_value
from source
where nullif(btrim(cast({{ adapter.quote(column) }} as text)), '') is not null
    and {{ pipeboard_as_temporal(adapter.quote(column), kind, deals.types[column]) }} is null
{% if not loop.last %}union all{% endif %}
{% else -%}
select cast(null as bigint) as deal_id, cast(null as text) as column_name, cast(null as text) as loaded_value
where false
{%- endfor %}
