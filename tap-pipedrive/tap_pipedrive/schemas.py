"""JSON schemas of the standard (non-custom) properties of every stream, from a compact type notation."""

from __future__ import annotations

from typing import Any

from tap_pipedrive.custom_fields import ADDRESS_COMPONENTS

Json = dict[str, Any]

_TYPES: dict[str, Json] = {
    "int": {"type": ["integer", "null"]},
    "num": {"type": ["number", "null"]},
    "str": {"type": ["string", "null"]},
    "bool": {"type": ["boolean", "null"]},
    "dt": {"type": ["string", "null"], "format": "date-time"},
    "date": {"type": ["string", "null"], "format": "date"},
    "ints": {"type": ["array", "null"], "items": {"type": "integer"}},
    "strs": {"type": ["array", "null"], "items": {"type": "string"}},
    "obj": {"type": ["object", "null"]},
    "arr": {
        "type": ["array", "null"],
        "items": {"type": "object", "properties": {}, "additionalProperties": True},
    },
}


def properties(spec: str) -> dict[str, Json]:
    """Expand ``"id:int title:str add_time:dt"`` into JSON-schema properties."""
    result: dict[str, Json] = {}
    for item in spec.split():
        name, kind = item.split(":")
        result[name] = dict(_TYPES[kind])
    return result


def object_schema(props: dict[str, Json], required: tuple[str, ...] = ("id",)) -> Json:
    """A record schema: the properties, the primary key non-null."""
    props = dict(props)
    for key in required:
        if key in props:
            kind = [t for t in props[key]["type"] if t != "null"]
            props[key] = {**props[key], "type": kind[0] if len(kind) == 1 else kind}
    return {"type": "object", "properties": props, "required": list(required)}


def address_properties(prefix: str = "address") -> dict[str, Json]:
    """The flat address text column and its components."""
    return properties(" ".join([f"{prefix}:str", *(f"{prefix}_{part}:str" for part in ADDRESS_COMPONENTS)]))


USERS = properties(
    "id:int name:str email:str phone:str default_currency:str locale:str lang:int activated:bool "
    "active_flag:bool is_deleted:bool is_you:bool last_login:dt created:dt modified:dt "
    "has_created_company:bool "
    "access:arr timezone_name:str timezone_offset:str role_id:int icon_url:str"
)
PIPELINES = properties(
    "id:int name:str order_nr:int is_deleted:bool is_deal_probability_enabled:bool is_selected:bool "
    "add_time:dt update_time:dt"
)
STAGES = properties(
    "id:int order_nr:int name:str is_deleted:bool deal_probability:int pipeline_id:int "
    "is_deal_rot_enabled:bool days_to_rotten:int add_time:dt update_time:dt"
)
ORGANIZATIONS = {
    **properties(
        "id:int name:str owner_id:int add_time:dt update_time:dt is_deleted:bool visible_to:int "
        "label_ids:ints "
        "website:str linkedin:str industry:int annual_revenue:num employee_count:int"
    ),
    **address_properties(),
}
PERSONS = properties(
    "id:int name:str first_name:str last_name:str owner_id:int org_id:int add_time:dt update_time:dt "
    "is_deleted:bool visible_to:int label_ids:ints picture_id:int emails:arr phones:arr primary_email:str "
    "primary_phone:str im:arr postal_address:obj notes:str birthday:date job_title:str"
)
DEALS = properties(
    "id:int title:str creator_user_id:int owner_id:int person_id:int org_id:int pipeline_id:int stage_id:int "
    "value:num currency:str add_time:dt update_time:dt stage_change_time:dt status:str is_deleted:bool "
    "is_archived:bool archive_time:dt probability:num lost_reason:str visible_to:int close_time:dt "
    "won_time:dt "
    "lost_time:dt local_won_date:date local_lost_date:date local_close_date:date expected_close_date:date "
    "label_ids:ints origin:str origin_id:str channel:int channel_id:str source_lead_id:str acv:num arr:num "
    "mrr:num email_messages_count:int notes_count:int activities_count:int done_activities_count:int "
    "undone_activities_count:int products_count:int participants_count:int"
)
ACTIVITIES = properties(
    "id:int subject:str type:str owner_id:int creator_user_id:int is_deleted:bool add_time:dt update_time:dt "
    "deal_id:int lead_id:str person_id:int org_id:int project_id:int due_date:date due_time:str duration:str "
    "busy:bool done:bool marked_as_done_time:dt location:obj participants:arr conference_meeting_client:str "
    "conference_meeting_url:str conference_meeting_id:str public_description:str priority:int note:str "
    "attendees:arr"
)
ACTIVITY_TYPES = properties(
    "id:int name:str icon_key:str color:str order_nr:int key_string:str active_flag:bool is_custom_flag:bool "
    "add_time:dt update_time:dt"
)
PRODUCTS = properties(
    "id:int name:str code:str description:str unit:str tax:num category:str is_linkable:bool is_deleted:bool "
    "visible_to:int owner_id:int add_time:dt update_time:dt billing_frequency:str "
    "billing_frequency_cycles:int "
    "prices:arr"
)
DEAL_PRODUCTS = properties(
    "id:int deal_id:int product_id:int product_variation_id:int name:str order_nr:int add_time:dt "
    "update_time:dt comments:str currency:str discount:num discount_type:str quantity:num item_price:num "
    "sum:num tax:num tax_method:str is_enabled:bool billing_frequency:str billing_frequency_cycles:int "
    "billing_start_date:date"
)
LEADS = properties(
    "id:str title:str owner_id:int creator_id:int label_ids:strs person_id:int organization_id:int "
    "source_name:str origin:str origin_id:str channel:int channel_id:str source_deal_id:int is_archived:bool "
    "was_seen:bool value:num currency:str expected_close_date:date next_activity_id:int add_time:dt "
    "update_time:dt visible_to:str cc_email:str"
)
LEAD_LABELS = properties("id:str name:str color:str add_time:dt update_time:dt")
NOTES = properties(
    "id:int active_flag:bool add_time:dt update_time:dt content:str user_id:int deal_id:int lead_id:str "
    "person_id:int org_id:int project_id:int task_id:int last_update_user_id:int pinned_to_lead_flag:bool "
    "pinned_to_deal_flag:bool pinned_to_organization_flag:bool pinned_to_person_flag:bool "
    "pinned_to_project_flag:bool pinned_to_task_flag:bool deal:obj organization:obj person:obj project:obj "
    "task:obj user:obj"
)
CURRENCIES = properties(
    "id:int code:str name:str decimal_points:int symbol:str active_flag:bool is_custom_flag:bool"
)
FIELDS = properties(
    "field_code:str field_name:str field_type:str column_name:str is_custom_field:bool options:arr "
    "subfields:arr description:str is_optional_response_field:bool"
)
DEAL_CHANGES = properties(
    "deal_id:int time:dt field_key:str change_hash:str old_value:str new_value:str actor_user_id:int "
    "change_source:str change_source_user_agent:str is_bulk_update_flag:bool"
)
DEAL_HISTORY_COVERAGE = properties(
    "stream:str mode:str deals_needing_history:int deals_complete:int deals_pending:int coverage:num "
    "is_complete:bool listed_through:dt"
)
DEAL_INSTALLMENTS = properties("id:int deal_id:int amount:num billing_date:date description:str")
PRODUCT_VARIATIONS = properties("id:int product_id:int name:str prices:arr")
CALL_LOGS = properties(
    "id:str activity_id:int person_id:int org_id:int deal_id:int lead_id:str user_id:int company_id:int "
    "subject:str duration:int outcome:str from_phone_number:str to_phone_number:str has_recording:bool "
    "start_time:dt end_time:dt note:str"
)
DEAL_PARTICIPANTS = properties(
    "id:int deal_id:int person_id:int person_name:str add_time:dt active_flag:bool added_by_user_id:int"
)
MAIL_THREADS = properties(
    "id:int account_id:str user_id:int subject:str snippet:str read_flag:bool has_attachments_flag:bool "
    "has_real_attachments_flag:bool deleted_flag:bool synced_flag:bool shared_flag:bool archived_flag:bool "
    "has_sent_flag:bool has_draft_flag:bool all_messages_sent_flag:bool first_message_to_me_flag:bool "
    "smart_bcc_flag:bool mail_tracking_status:str folders:strs parties:obj message_count:int "
    "first_message_timestamp:dt last_message_timestamp:dt last_message_sent_timestamp:dt "
    "last_message_received_timestamp:dt add_time:dt update_time:dt deal_id:int deal_status:str lead_id:str "
    "has_inline_attachments_flag:bool mail_link_tracking_enabled_flag:bool external_deleted_flag:bool "
    "drafts_parties:arr thread_version:int snippet_draft:str snippet_sent:str folder:str"
)
FILES = properties(
    "id:int user_id:int deal_id:int person_id:int org_id:int product_id:int activity_id:int lead_id:str "
    "project_id:int log_id:int add_time:dt update_time:dt file_name:str file_type:str file_size:int "
    "active_flag:bool inline_flag:bool remote_location:str remote_id:str mail_message_id:str "
    "mail_template_id:str name:str description:str url:str cid:str s3_bucket:str deal_name:str "
    "person_name:str org_name:str product_name:str lead_name:str project_name:str"
)
FILTERS = properties(
    "id:int name:str filter_code:str is_editable:bool active_flag:bool type:str temporary_flag:bool "
    "user_id:int add_time:dt update_time:dt visible_to:str last_used_time:dt custom_view_id:int"
)
