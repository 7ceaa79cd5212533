{#- main_bi without deleted or archived deals: what most dashboards want. A view, so it is always main_bi's
    current content. -#}
{{ config(materialized='view') }}

with main_bi as (

    select * from {{ ref('main_bi') }}

),

final as (

    select * from main_bi
    where is_active

)

select * from final
