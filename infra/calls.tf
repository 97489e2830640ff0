# call-webhook's settings (common/settings.py, call_*; docs/calls.md): every one
# is a variable named after its setting and reaches the function as its LR_*
# environment variable (merged by locals.tf). The secret itself (shared secret
# or HMAC key, LR_CALL_WEBHOOK_SECRET) is Secret Manager's call-webhook-secret.
#
# This file holds only variables, locals and an output, so tests/infra evaluates
# it offline with the real terraform binary and reads the result back through
# the settings model. Defaults are the code's defaults.

# ---- authentication --------------------------------------------------------------------
variable "call_webhook_auth" {
  description = "How call-webhook authenticates the voice-call provider (LR_CALL_WEBHOOK_AUTH): `hmac` (recommended, with call_webhook_signed_payload = \"timestamp.body\": each request is signed and a captured one cannot be replayed outside call_webhook_tolerance_seconds) or `secret` (the x-vapi-secret header equals the shared secret; the default, the simplest to set up in the provider). The key or secret is the call-webhook-secret in Secret Manager."
  type        = string
  default     = "secret"

  validation {
    condition     = contains(["secret", "hmac"], var.call_webhook_auth)
    error_message = "call_webhook_auth must be `secret` or `hmac` (recommended: `hmac` with call_webhook_signed_payload = \"timestamp.body\")."
  }
}

variable "call_webhook_hmac_algorithm" {
  description = "HMAC digest of the `hmac` mode (LR_CALL_WEBHOOK_HMAC_ALGORITHM): sha256 or sha512, as set in the provider's HMAC credential."
  type        = string
  default     = "sha256"

  validation {
    condition     = contains(["sha256", "sha512"], var.call_webhook_hmac_algorithm)
    error_message = "call_webhook_hmac_algorithm must be sha256 or sha512."
  }
}

variable "call_webhook_signature_header" {
  description = "Header carrying the HMAC signature (LR_CALL_WEBHOOK_SIGNATURE_HEADER), the provider credential's signatureHeader."
  type        = string
  default     = "x-signature"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.call_webhook_signature_header))
    error_message = "call_webhook_signature_header must be an HTTP header name (letters, digits, '-', '_', '.')."
  }
}

variable "call_webhook_signature_prefix" {
  description = "Prefix before the signature in its header (LR_CALL_WEBHOOK_SIGNATURE_PREFIX), e.g. \"sha256=\"; empty for none."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[^\\s,]{0,32}$", var.call_webhook_signature_prefix))
    error_message = "call_webhook_signature_prefix must be at most 32 characters without spaces or commas."
  }
}

variable "call_webhook_timestamp_header" {
  description = "Header carrying the signing time in Unix seconds or milliseconds (LR_CALL_WEBHOOK_TIMESTAMP_HEADER), the provider credential's timestampHeader."
  type        = string
  default     = "x-timestamp"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.call_webhook_timestamp_header))
    error_message = "call_webhook_timestamp_header must be an HTTP header name (letters, digits, '-', '_', '.')."
  }
}

variable "call_webhook_signed_payload" {
  description = "What the provider signs (LR_CALL_WEBHOOK_SIGNED_PAYLOAD): `timestamp.body` (recommended: \"{timestamp}.{body}\", replays outside the tolerance are refused) or `body` (the raw body alone, no replay window)."
  type        = string
  default     = "timestamp.body"

  validation {
    condition     = contains(["timestamp.body", "body"], var.call_webhook_signed_payload)
    error_message = "call_webhook_signed_payload must be `timestamp.body` (recommended) or `body`."
  }
}

variable "call_webhook_signature_encoding" {
  description = "Encoding of the HMAC signature (LR_CALL_WEBHOOK_SIGNATURE_ENCODING): hex or base64."
  type        = string
  default     = "hex"

  validation {
    condition     = contains(["hex", "base64"], var.call_webhook_signature_encoding)
    error_message = "call_webhook_signature_encoding must be hex or base64."
  }
}

variable "call_webhook_tolerance_seconds" {
  description = "Largest accepted distance in seconds between the signed timestamp and now (LR_CALL_WEBHOOK_TOLERANCE_SECONDS)."
  type        = number
  default     = 300

  validation {
    condition     = var.call_webhook_tolerance_seconds >= 1 && floor(var.call_webhook_tolerance_seconds) == var.call_webhook_tolerance_seconds
    error_message = "call_webhook_tolerance_seconds must be a whole number of seconds, at least 1."
  }
}

variable "call_webhook_max_body_bytes" {
  description = "Request bodies larger than this many bytes are refused with 413 (LR_CALL_WEBHOOK_MAX_BODY_BYTES)."
  type        = number
  default     = 2097152

  validation {
    condition     = var.call_webhook_max_body_bytes >= 1024 && floor(var.call_webhook_max_body_bytes) == var.call_webhook_max_body_bytes
    error_message = "call_webhook_max_body_bytes must be a whole number of bytes, at least 1024."
  }
}

# ---- when leads are called again -------------------------------------------------------
variable "call_retry_intervals_hours" {
  description = "Hours from an unanswered call to the next attempt, per attempt; the last repeats (LR_CALL_RETRY_INTERVALS_HOURS). The attempt is then moved into the lead's business hours."
  type        = list(number)
  default     = [2, 24, 72]

  validation {
    condition     = length(var.call_retry_intervals_hours) > 0 && alltrue([for h in var.call_retry_intervals_hours : h > 0])
    error_message = "call_retry_intervals_hours must be one or more positive numbers of hours, e.g. [2, 24, 72]."
  }
}

variable "call_max_attempts" {
  description = "Calls to one lead before unanswered ones stop being retried (LR_CALL_MAX_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.call_max_attempts >= 1 && floor(var.call_max_attempts) == var.call_max_attempts
    error_message = "call_max_attempts must be a whole number, at least 1."
  }
}

variable "call_business_hours_start" {
  description = "Local hour (0-23, in the lead's time zone) from which calls are placed (LR_CALL_BUSINESS_HOURS_START); before call_business_hours_end."
  type        = number
  default     = 9

  validation {
    condition     = var.call_business_hours_start >= 0 && var.call_business_hours_start <= 23 && floor(var.call_business_hours_start) == var.call_business_hours_start
    error_message = "call_business_hours_start must be a whole hour from 0 to 23."
  }
}

variable "call_business_hours_end" {
  description = "Local hour (1-24, in the lead's time zone) at which calls stop, exclusive (LR_CALL_BUSINESS_HOURS_END); after call_business_hours_start."
  type        = number
  default     = 19

  validation {
    condition     = var.call_business_hours_end >= 1 && var.call_business_hours_end <= 24 && floor(var.call_business_hours_end) == var.call_business_hours_end
    error_message = "call_business_hours_end must be a whole hour from 1 to 24."
  }
}

variable "call_business_days" {
  description = "Days on which calls are placed (LR_CALL_BUSINESS_DAYS): any of mon, tue, wed, thu, fri, sat, sun."
  type        = list(string)
  default     = ["mon", "tue", "wed", "thu", "fri"]

  validation {
    condition     = length(var.call_business_days) > 0 && alltrue([for d in var.call_business_days : contains(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], d)])
    error_message = "call_business_days must be one or more of mon, tue, wed, thu, fri, sat, sun."
  }
}

variable "call_default_timezone" {
  description = "IANA time zone of leads whose call and latest run carry none (LR_CALL_DEFAULT_TIMEZONE), e.g. America/Mexico_City. An unknown zone stops call-webhook at start with a message naming it."
  type        = string
  default     = "UTC"

  validation {
    # The shape of an IANA name (Area/Location, or UTC); Terraform has no zone
    # database, the function checks the name itself when it starts.
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$", var.call_default_timezone))
    error_message = "call_default_timezone must be an IANA time zone name such as America/Mexico_City or UTC."
  }
}

locals {
  # call-webhook's environment (strings; lists comma-separated as the settings read them).
  calls_env = {
    call_webhook = merge(
      {
        LR_CALL_WEBHOOK_AUTH               = var.call_webhook_auth
        LR_CALL_WEBHOOK_HMAC_ALGORITHM     = var.call_webhook_hmac_algorithm
        LR_CALL_WEBHOOK_SIGNATURE_HEADER   = var.call_webhook_signature_header
        LR_CALL_WEBHOOK_TIMESTAMP_HEADER   = var.call_webhook_timestamp_header
        LR_CALL_WEBHOOK_SIGNED_PAYLOAD     = var.call_webhook_signed_payload
        LR_CALL_WEBHOOK_SIGNATURE_ENCODING = var.call_webhook_signature_encoding
        LR_CALL_WEBHOOK_TOLERANCE_SECONDS  = tostring(var.call_webhook_tolerance_seconds)
        LR_CALL_WEBHOOK_MAX_BODY_BYTES     = tostring(var.call_webhook_max_body_bytes)
        LR_CALL_RETRY_INTERVALS_HOURS      = join(",", [for h in var.call_retry_intervals_hours : tostring(h)])
        LR_CALL_MAX_ATTEMPTS               = tostring(var.call_max_attempts)
        LR_CALL_BUSINESS_HOURS_START       = tostring(var.call_business_hours_start)
        LR_CALL_BUSINESS_HOURS_END         = tostring(var.call_business_hours_end)
        LR_CALL_BUSINESS_DAYS              = join(",", var.call_business_days)
        LR_CALL_DEFAULT_TIMEZONE           = var.call_default_timezone
      },
      # An empty prefix is the setting's default: left out rather than set empty.
      var.call_webhook_signature_prefix != "" ? { LR_CALL_WEBHOOK_SIGNATURE_PREFIX = var.call_webhook_signature_prefix } : {},
    )
  }
}

output "call_webhook_settings" {
  description = "call-webhook's settings as its environment variables (the secret is Secret Manager's call-webhook-secret)."
  value       = local.calls_env["call_webhook"]

  # Two variables together: validation blocks may name only their own variable
  # before Terraform 1.9, and versions.tf accepts 1.5.
  precondition {
    condition     = var.call_business_hours_start < var.call_business_hours_end
    error_message = "call_business_hours_start must be before call_business_hours_end (the business hours would be empty)."
  }
}
