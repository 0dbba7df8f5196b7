-- Host tables of BPC Funnels: funnels, their routing rules and the leads that land
-- in them. A BPC Funnels database already has these; on a fresh project they are
-- created with the columns the webhook system reads. Existing tables are left as
-- they are, apart from adding a missing column the webhook system needs.

-- ===========================================================================
-- Extensions
-- ===========================================================================
-- Supabase keeps extensions in schema `extensions`; gen_random_bytes() comes from here.
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;

-- ===========================================================================
-- funnels
-- ===========================================================================
create table if not exists public.funnels (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references auth.users (id) on delete cascade,
  name text not null,
  status text not null default 'draft'
    constraint funnels_status_check check (status in ('draft', 'active', 'paused', 'archived')),
  created_at timestamptz not null default now()
);

create index if not exists funnels_owner_id_idx on public.funnels (owner_id);

-- ===========================================================================
-- routing_rules
-- ===========================================================================
create table if not exists public.routing_rules (
  id uuid primary key default gen_random_uuid(),
  funnel_id uuid not null references public.funnels (id) on delete cascade,
  client_name text not null,
  webhook_url text not null,
  condition jsonb not null default '{}'::jsonb,
  is_active boolean not null default true,
  created_at timestamptz not null default now()
);

alter table public.routing_rules add column if not exists condition jsonb not null default '{}'::jsonb;
alter table public.routing_rules add column if not exists is_active boolean not null default true;

create index if not exists routing_rules_funnel_id_idx on public.routing_rules (funnel_id);

-- ===========================================================================
-- leads
-- ===========================================================================
create table if not exists public.leads (
  id uuid primary key default gen_random_uuid(),
  funnel_id uuid not null references public.funnels (id) on delete cascade,
  data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);

create index if not exists leads_funnel_id_idx on public.leads (funnel_id);
