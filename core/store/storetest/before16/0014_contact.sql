-- The resident's contact preference (issue 16): how they want to be notified
-- besides the letter (post, sms, email) and when they consented to SMS or
-- e-mail. The phone number and e-mail address stay in phone and email (E.164
-- for phone numbers registered from now on).
ALTER TABLE residents
    ADD COLUMN contact_channel    text        NOT NULL DEFAULT 'post' CHECK (contact_channel IN ('post', 'sms', 'email')),
    ADD COLUMN contact_consent_at timestamptz,
    ADD CONSTRAINT residents_contact_consent CHECK (contact_channel = 'post' OR contact_consent_at IS NOT NULL);
