{#- The invitees of each live activity (its `attendees` list: meetings), one row per activity and attendee. -#}
with activities as (

    {{ pipeboard_read_source('activities').sql }}

),

final as (

    select
        activities.id as activity_id,
        activities.deal_id,
        attendee ->> 'email' as email,
        attendee ->> 'name' as name,
        attendee ->> 'status' as status,
        coalesce(cast(attendee ->> 'is_organizer' as boolean), false) as is_organizer,
        cast(attendee ->> 'person_id' as bigint) as person_id,
        cast(attendee ->> 'user_id' as bigint) as user_id
    from activities
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(activities.attendees) = 'array' then activities.attendees else '[]'::jsonb end
    ) as attendees (attendee)
    where not {{ pipeboard_is_deleted('activities.is_deleted') }}

)

select * from final
