{#- Call logs of the API token's user (Pipedrive lists no one else's), with their deal, person and outcome. -#}
with source as (

    {{ pipeboard_read_source('call_logs').sql }}

),

final as (

    select
        id,
        deal_id,
        person_id,
        org_id,
        activity_id,
        user_id,
        subject,
        outcome,
        duration as duration_seconds,
        start_time,
        end_time,
        coalesce(has_recording, false) as has_recording,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
