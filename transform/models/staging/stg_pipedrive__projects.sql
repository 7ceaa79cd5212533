{#- Projects as loaded, archived ones included: every column, custom fields included (named columns, see
    stg_pipedrive__project_fields); one deleted flag (status deleted, or gone from Pipedrive). -#}
{%- set projects = pipeboard_read_source('projects', passthrough=true) -%}

with source as (

    {{ projects.sql }}

),

final as (

    select
        {%- for column in projects.columns if column not in ('is_deleted', '_sdc_deleted_at', '_sdc_batched_at') %}
        {{ adapter.quote(column) }},
        {%- endfor %}
        {{ pipeboard_is_deleted() }} or coalesce(status = 'deleted', false) as is_deleted
    from source

)

select * from final
