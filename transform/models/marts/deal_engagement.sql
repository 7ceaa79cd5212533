{#- One row per deal: what is billed (installments) and how the deal is being worked — participants, calls,
    mail threads, files and meeting invitees. Deleted records are not counted; deleted deals keep their row. -#}
with deals as (

    select id, title, status, is_deleted from {{ ref('stg_pipedrive__deals') }}

),

installments as (

    select
        deal_id,
        count(*) as installments_count,
        sum(amount) as installments_amount,
        min(billing_date) as first_billing_date,
        min(billing_date) filter (where billing_date >= current_date) as next_billing_date,
        max(billing_date) as last_billing_date
    from {{ ref('stg_pipedrive__deal_installments') }}
    where not is_deleted
    group by deal_id

),

participants as (

    select deal_id, count(distinct person_id) as participants_count
    from {{ ref('stg_pipedrive__deal_participants') }}
    where not is_deleted
    group by deal_id

),

calls as (

    select
        deal_id,
        count(*) as call_logs_count,
        count(*) filter (where outcome = 'connected') as calls_connected,
        sum(duration_seconds) as call_seconds,
        max(start_time) as last_call_at
    from {{ ref('stg_pipedrive__call_logs') }}
    where not is_deleted
    group by deal_id

),

mail as (

    select
        deal_id,
        count(*) as mail_threads_count,
        sum(message_count) as mail_messages_count,
        max(last_message_timestamp) as last_mail_at
    from {{ ref('stg_pipedrive__mail_threads') }}
    where not is_deleted
    group by deal_id

),

files as (

    select deal_id, count(*) as files_count, sum(file_size) as files_bytes
    from {{ ref('stg_pipedrive__files') }}
    where not is_deleted
    group by deal_id

),

attendees as (

    select deal_id, count(*) as meeting_attendees_count
    from {{ ref('stg_pipedrive__activity_attendees') }}
    where not is_organizer
    group by deal_id

),

final as (

    select
        deals.id as deal_id,
        deals.title,
        deals.status,
        deals.is_deleted,
        coalesce(installments.installments_count, 0) as installments_count,
        installments.installments_amount,
        installments.first_billing_date,
        installments.next_billing_date,
        installments.last_billing_date,
        coalesce(participants.participants_count, 0) as participants_count,
        coalesce(calls.call_logs_count, 0) as call_logs_count,
        coalesce(calls.calls_connected, 0) as calls_connected,
        coalesce(calls.call_seconds, 0) as call_seconds,
        calls.last_call_at,
        coalesce(mail.mail_threads_count, 0) as mail_threads_count,
        coalesce(mail.mail_messages_count, 0) as mail_messages_count,
        mail.last_mail_at,
        coalesce(files.files_count, 0) as files_count,
        coalesce(files.files_bytes, 0) as files_bytes,
        coalesce(attendees.meeting_attendees_count, 0) as meeting_attendees_count
    from deals
    left join installments on installments.deal_id = deals.id
    left join participants on participants.deal_id = deals.id
    left join calls on calls.deal_id = deals.id
    left join mail on mail.deal_id = deals.id
    left join files on files.deal_id = deals.id
    left join attendees on attendees.deal_id = deals.id

)

select * from final
