{#- Per deal: how many live notes it has. -#}
with notes as (

    select * from {{ ref('stg_pipedrive__notes') }}

),

final as (

    select
        deal_id,
        count(*) as notes_count
    from notes
    group by deal_id

)

select * from final
