-- Demo data for `supabase db reset`: one owner, an active funnel and two routing
-- rules. The URLs are on example.com (reserved for documentation), so a lead
-- inserted by hand produces deliveries that fail harmlessly.

insert into auth.users (id, aud, role, email, created_at, updated_at)
values ('00000000-0000-4000-8000-0000000000a1', 'authenticated', 'authenticated',
        'demo-owner@example.com', now(), now())
on conflict (id) do nothing;

insert into public.funnels (id, owner_id, name, status)
values ('00000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-0000000000a1',
        'Demo funnel', 'active')
on conflict (id) do nothing;

-- Every lead goes to the CRM; leads from Germany also go to the regional partner.
insert into public.routing_rules (id, funnel_id, client_name, webhook_url, condition, is_active)
values
  ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-0000000000f1',
   'Demo CRM', 'https://example.com/webhooks/crm', '{}'::jsonb, true),
  ('00000000-0000-4000-8000-0000000000b2', '00000000-0000-4000-8000-0000000000f1',
   'Demo partner (DE)', 'https://example.com/webhooks/partner-de', '{"country": "DE"}'::jsonb, true)
on conflict (id) do nothing;
