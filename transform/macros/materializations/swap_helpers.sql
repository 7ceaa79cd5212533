{#- The steps of the swapped_table materialization that touch the current table; see swapped_table.sql. -#}

{% macro pipeboard_copy_grants(from_relation, to_relation) -%}
  {#- Give `to_relation` every privilege others hold on `from_relation` (grants made by hand or by a DBA). -#}
  {%- if from_relation is none -%}{{ return(none) }}{%- endif -%}
  {%- set query -%}
    select format('grant %s on {{ to_relation }} to %s%s',
                  acl.privilege_type,
                  case when acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(acl.grantee)) end,
                  case when acl.is_grantable then ' with grant option' else '' end)
    from pg_class as c
    cross join lateral aclexplode(c.relacl) as acl
    where c.oid = {{ pipeboard_literal(from_relation) }}::regclass
      and acl.grantee <> c.relowner
    order by 1
  {%- endset -%}
  {%- for row in run_query(query).rows -%}
    {%- do run_query(row[0]) -%}
  {%- endfor -%}
{%- endmacro %}


{% macro pipeboard_lock_for_swap(relation) -%}
  {#- Take the ACCESS EXCLUSIVE lock the swap needs, waiting at most var swap_lock_timeout per attempt so that
      readers arriving meanwhile are not queued behind us for long; between attempts hold nothing and say who
      holds the table. Raises after var swap_attempts attempts (the transaction rolls back: nothing changes). -#}
  {%- set timeout = env_var('PIPEBOARD_DBT_SWAP_LOCK_TIMEOUT', var('swap_lock_timeout')) -%}
  {%- set attempts = env_var('PIPEBOARD_DBT_SWAP_ATTEMPTS', var('swap_attempts')) | int -%}
  {%- set pause = env_var('PIPEBOARD_DBT_SWAP_RETRY_WAIT', var('swap_retry_wait_seconds')) | float -%}
  {%- call statement('swap_lock_function') -%}
    create or replace function pg_temp.pipeboard_try_lock(target regclass, wait text) returns text
    language plpgsql as $pipeboard$
    begin
        perform set_config('lock_timeout', wait, true);
        execute format('lock table %s in access exclusive mode', target);
        return null;
    exception when lock_not_available then
        return coalesce((
            select string_agg(format('pid %s (application %s, user %s, %s, transaction open for %s)',
                                     activity.pid,
                                     coalesce(nullif(activity.application_name, ''), '-'),
                                     activity.usename,
                                     activity.state,
                                     date_trunc('second', clock_timestamp() - activity.xact_start)),
                              '; ' order by activity.pid)
            from pg_stat_activity as activity
            where activity.pid in (
                select locks.pid from pg_locks as locks
                where locks.relation = target and locks.granted and locks.pid <> pg_backend_pid()
            )
        ), 'a session that has let go since');
    end
    $pipeboard$
  {%- endcall -%}
  {%- set state = namespace(locked=false) -%}
  {%- for attempt in range(1, attempts + 1) if not state.locked -%}
    {%- set blockers = run_query(
          "select pg_temp.pipeboard_try_lock(" ~ pipeboard_literal(relation) ~ "::regclass, "
          ~ pipeboard_literal(timeout) ~ ")").columns[0].values()[0] -%}
    {%- if blockers is none -%}
      {%- set state.locked = true -%}
    {%- else -%}
      {%- do log("Swap of " ~ relation ~ ": waited " ~ timeout ~ " for the table, held by " ~ blockers
                 ~ " (attempt " ~ attempt ~ " of " ~ attempts ~ ")"
                 ~ ("; trying again in " ~ pause ~ "s" if attempt < attempts else ""), info=true) -%}
      {%- if attempt < attempts -%}
        {%- do run_query("select pg_sleep(" ~ pause ~ ")") -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not state.locked -%}
    {{ exceptions.raise_compiler_error(
        "could not swap in " ~ relation ~ ": other sessions held it through " ~ attempts ~ " attempts of "
        ~ timeout ~ " (see the log lines above for who); the previous " ~ relation ~ " is unchanged. End or "
        ~ "shorten those sessions, or raise PIPEBOARD_DBT_SWAP_ATTEMPTS / PIPEBOARD_DBT_SWAP_LOCK_TIMEOUT.") }}
  {%- endif -%}
{%- endmacro %}


{% macro pipeboard_dependent_views(relation) -%}
  {#- The statements that recreate every view depending on `relation` (directly or through other views), in an
      order where each view comes after those it reads, with owner, options, grants and comments. Raises, naming
      it, when something other than a plain view depends on the relation. -#}
  {%- set blockers_query -%}
    with recursive dependents (oid) as (
        select {{ pipeboard_literal(relation) }}::regclass::oid
        union
        select rewrite.ev_class
        from dependents
        join pg_depend as dep on dep.refobjid = dependents.oid and dep.classid = 'pg_rewrite'::regclass
        join pg_rewrite as rewrite on rewrite.oid = dep.objid
        where rewrite.ev_class <> dependents.oid
    )
    select pg_describe_object(dep.classid, dep.objid, dep.objsubid)
    from dependents
    join pg_depend as dep on dep.refobjid = dependents.oid and dep.deptype = 'n'
    left join pg_rewrite as rewrite on dep.classid = 'pg_rewrite'::regclass and rewrite.oid = dep.objid
    left join pg_class as reader on reader.oid = rewrite.ev_class
    where dep.classid <> 'pg_rewrite'::regclass
        or rewrite.rulename <> '_RETURN'
        or reader.relkind <> 'v'
    union
    select pg_describe_object('pg_trigger'::regclass, trigger.oid, 0)
    from dependents
    join pg_trigger as trigger on trigger.tgrelid = dependents.oid
    where dependents.oid <> {{ pipeboard_literal(relation) }}::regclass::oid
    order by 1
  {%- endset -%}
  {%- set blockers = run_query(blockers_query).columns[0].values() -%}
  {%- if blockers | length > 0 -%}
    {{ exceptions.raise_compiler_error(
        relation ~ " cannot be replaced: " ~ blockers | join(", ") ~ " depend" ~ ("s" if blockers | length == 1 else "")
        ~ " on it and only plain views are carried over to the new table. Drop "
        ~ ("it" if blockers | length == 1 else "them") ~ " (or build it on main_bi_active or a view of your own), "
        ~ "then run again; the previous " ~ relation ~ " is unchanged.") }}
  {%- endif -%}
  {%- set shown = relation.schema ~ '.' ~ relation.identifier -%}
  {%- set own = ["''"] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.materialized == 'view'
                                          and model.unique_id in node.depends_on.nodes -%}
    {%- do own.append(pipeboard_literal(node.schema ~ '.' ~ node.alias)) -%}
  {%- endfor -%}
  {%- set views_query -%}
    with recursive dependents (oid, depth) as (
        select {{ pipeboard_literal(relation) }}::regclass::oid, 0
        union all
        select rewrite.ev_class, dependents.depth + 1
        from dependents
        join pg_depend as dep on dep.refobjid = dependents.oid and dep.classid = 'pg_rewrite'::regclass
        join pg_rewrite as rewrite on rewrite.oid = dep.objid
        where rewrite.ev_class <> dependents.oid
    ),
    views as (
        select oid, max(depth) as depth from dependents where depth > 0 group by oid
    ),
    statements as (
        select views.depth, view.oid, 1 as step,
               format('create view %s%s as %s', view.oid::regclass,
                      coalesce(' with (' || array_to_string(view.reloptions, ', ') || ')', ''),
                      pg_get_viewdef(view.oid)) as statement
        from views join pg_class as view on view.oid = views.oid
        union all
        select views.depth, view.oid, 2,
               format('alter view %s owner to %I', view.oid::regclass, pg_get_userbyid(view.relowner))
        from views join pg_class as view on view.oid = views.oid
        where view.relowner <> (select oid from pg_roles where rolname = current_user)
        union all
        select views.depth, view.oid, 3,
               format('grant %s on %s to %s%s', acl.privilege_type, view.oid::regclass,
                      case when acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(acl.grantee)) end,
                      case when acl.is_grantable then ' with grant option' else '' end)
        from views join pg_class as view on view.oid = views.oid
        cross join lateral aclexplode(view.relacl) as acl
        where acl.grantee <> view.relowner
        union all
        select views.depth, view.oid, 4,
               format('comment on view %s is %L', view.oid::regclass, description.description)
        from views join pg_class as view on view.oid = views.oid
        join pg_description as description
            on description.objoid = view.oid and description.classoid = 'pg_class'::regclass
            and description.objsubid = 0
        union all
        select views.depth, view.oid, 5,
               format('comment on column %s.%I is %L', view.oid::regclass, attribute.attname,
                      description.description)
        from views join pg_class as view on view.oid = views.oid
        join pg_description as description
            on description.objoid = view.oid and description.classoid = 'pg_class'::regclass
            and description.objsubid > 0
        join pg_attribute as attribute
            on attribute.attrelid = view.oid and attribute.attnum = description.objsubid
    )
    select namespace.nspname, view.relname,
           case
               -- a view this dbt project builds on the model: dbt rebuilds it right after, so a step that no
               -- longer fits is skipped rather than failing the swap
               when format('%s.%s', namespace.nspname, view.relname) in ({{ own | join(', ') }})
                   then format('do $pipeboard$ begin execute %L; exception when others then null; end $pipeboard$',
                               statements.statement)
               -- anyone else's view: if the new table no longer fits it, fail naming it (nothing changes)
               when statements.step = 1
                   then format('do $pipeboard$ begin execute %L; exception when others then raise exception %L, '
                               'sqlerrm; end $pipeboard$',
                               statements.statement,
                               format('the view %s on {{ shown }} cannot be recreated on the new table (%%): '
                                      'change or drop the view, then run again; the previous {{ shown }} is '
                                      'unchanged', replace(format('%I.%I', namespace.nspname, view.relname), '%', '%%')))
               else statements.statement
           end
    from statements
    join pg_class as view on view.oid = statements.oid
    join pg_namespace as namespace on namespace.oid = view.relnamespace
    order by statements.depth, statements.oid, statements.step, statements.statement
  {%- endset -%}
  {{ return(run_query(views_query).rows | list) }}
{%- endmacro %}


{% macro pipeboard_recreate_views(relation, statements) -%}
  {#- Run the statements pipeboard_dependent_views captured, after the new table took the old one's name, and tell
      dbt's relation cache the views exist again (dropping the old table dropped them from it). -#}
  {%- if statements | length == 0 -%}{{ return(none) }}{%- endif -%}
  {%- set recreated = [] -%}
  {%- for schema, name, statement in statements -%}
    {%- do run_query(statement) -%}
    {%- if (schema, name) not in recreated -%}{%- do recreated.append((schema, name)) -%}{%- endif -%}
  {%- endfor -%}
  {%- for schema, name in recreated -%}
    {%- do adapter.cache_added(api.Relation.create(database=relation.database, schema=schema, identifier=name,
                                                   type='view')) -%}
  {%- endfor -%}
  {%- do log("Recreated " ~ recreated | length ~ " view(s) on " ~ relation, info=true) -%}
{%- endmacro %}
