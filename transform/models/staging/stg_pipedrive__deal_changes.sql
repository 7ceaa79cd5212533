{#- Deal field changes from Pipedrive's changelog, the ones deal history is rebuilt from: stage moves (stage ids
    as integers) and status changes. -#}
with source as (

    {{ pipeboard_read_source('deal_changes').sql }}

),

final as (

    select
        deal_id,
        time as changed_at,
        field_key,
        change_hash,
        old_value,
        new_value,
        case when field_key = 'stage_id' and old_value ~ '^[0-9]+$' then cast(old_value as bigint) end
            as old_stage_id,
        case when field_key = 'stage_id' and new_value ~ '^[0-9]+$' then cast(new_value as bigint) end
            as new_stage_id,
        actor_user_id,
        change_source
    from source
    where deal_id is not null
        and time is not null

)

select * from final
