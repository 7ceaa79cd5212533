{#- The persons of each live activity (its `participants` list), one row per activity and person. -#}
with activities as (

    {{ pipeboard_read_source('activities').sql }}

),

final as (

    select
        activities.id as activity_id,
        activities.deal_id,
        cast(participant ->> 'person_id' as bigint) as person_id,
        coalesce(cast(participant ->> 'primary' as boolean), false) as is_primary
    from activities
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(activities.participants) = 'array' then activities.participants else '[]'::jsonb end
    ) as participants (participant)
    where not {{ pipeboard_is_deleted('activities.is_deleted') }}
        and participant ->> 'person_id' is not null

)

select * from final
