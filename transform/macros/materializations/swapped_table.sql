{#-
  swapped_table: a table built aside and swapped in, all in one transaction, so readers see the previous table or
  the new one, never a half-built or missing one, and a failed build changes nothing.

  1. CREATE TABLE <name>__dbt_tmp AS the model; its primary key (config primary_key), indexes, column comments
     (persist_docs, then pipeboard_describe_columns for columns the YAML does not document) and the grants the
     current table carries (hand-made GRANTs survive) are all added before anything touches the current table.
  2. The current table is locked with a short lock_timeout, retried (vars swap_lock_timeout, swap_attempts,
     swap_retry_wait_seconds), each wait logged with the sessions holding it: a BI reader holding a lock never
     makes every other dashboard query queue behind the swap.
  3. Views on the current table (users' own, and views on those) are captured, the table dropped, the new one
     renamed into place and the views recreated with their owner, grants and comments. A dependent object that is
     not a plain view (materialized view, foreign key, rule, function body…) fails the build with its name:
     nothing is changed. A view that no longer fits (it uses a column that is gone) fails the same way.
  4. COMMIT.
-#}
{% materialization swapped_table, adapter='postgres' %}

  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set build_relation = make_intermediate_relation(target_relation) -%}
  {%- set preexisting_build_relation = load_cached_relation(build_relation) -%}
  {%- set grant_config = config.get('grants') -%}
  {%- set primary_key = config.get('primary_key') -%}

  {{ drop_relation_if_exists(preexisting_build_relation) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main') -%}
    {{ get_create_table_as_sql(False, build_relation, sql) }}
  {%- endcall %}

  {% if primary_key %}
    {% call statement('primary_key') -%}
      alter table {{ build_relation }}
        add constraint {{ adapter.quote(build_relation.identifier ~ '_pkey') }}
        primary key ({{ primary_key if primary_key is string else primary_key | join(', ') }})
    {%- endcall %}
  {% endif %}
  {% do create_indexes(build_relation) %}
  {% do persist_docs(build_relation, model) %}
  {% do pipeboard_describe_columns(build_relation) %}
  {% do pipeboard_copy_grants(existing_relation, build_relation) %}

  {% set views = [] %}
  {% if existing_relation is not none %}
    {% do pipeboard_lock_for_swap(existing_relation) %}
    {% set views = pipeboard_dependent_views(existing_relation) %}
    {% do adapter.drop_relation(existing_relation) %}
  {% endif %}
  {{ adapter.rename_relation(build_relation, target_relation) }}
  {% if primary_key %}
    {% call statement('rename_primary_key') -%}
      alter table {{ target_relation }}
        rename constraint {{ adapter.quote(build_relation.identifier ~ '_pkey') }}
        to {{ adapter.quote(target_relation.identifier ~ '_pkey') }}
    {%- endcall %}
  {% endif %}
  {% do pipeboard_recreate_views(target_relation, views) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do apply_grants(target_relation, grant_config, should_revoke=False) %}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
