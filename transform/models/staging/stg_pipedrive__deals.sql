{#- Deals as loaded: every column, custom fields included, the relied-on ones typed; one deleted flag. -#}
{%- set deals = pipeboard_read_source('deals', passthrough=true) -%}

with source as (

    {{ deals.sql }}

),

final as (

    select
        {%- for column in deals.columns if column not in ('is_deleted', '_sdc_deleted_at', '_sdc_batched_at') %}
        {{ adapter.quote(column) }},
        {%- endfor %}
        {{ pipeboard_is_deleted() }} as is_deleted,
        _sdc_batched_at
    from source

)

select * from final
