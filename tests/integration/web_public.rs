//! Web pages: public.
