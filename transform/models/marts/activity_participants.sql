{#- The persons of each live activity, with their answer when the activity is a meeting they were invited to. -#}
with participants as (

    select * from {{ ref('stg_pipedrive__activity_participants') }}

),

attendees as (

    select * from {{ ref('stg_pipedrive__activity_attendees') }}
    where person_id is not null

),

final as (

    select
        participants.activity_id,
        participants.deal_id,
        participants.person_id,
        participants.is_primary,
        attendees.email as attendee_email,
        attendees.status as attendee_status
    from participants
    left join attendees
        on attendees.activity_id = participants.activity_id
        and attendees.person_id = participants.person_id

)

select * from final
