{#- Stages with their pipeline, probability and rotting settings. -#}
with source as (

    {{ pipeboard_read_source('stages').sql }}

),

final as (

    select
        id,
        name,
        order_nr,
        pipeline_id,
        deal_probability,
        coalesce(is_deal_rot_enabled, false) as is_deal_rot_enabled,
        days_to_rotten,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
