{#- Live notes attached to a deal. -#}
with source as (

    {{ pipeboard_read_source('notes').sql }}

),

final as (

    select
        id,
        deal_id,
        add_time
    from source
    where deal_id is not null
        and coalesce(active_flag, true)
        and _sdc_deleted_at is null

)

select * from final
