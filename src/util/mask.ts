// The one place that hides credentials in text meant for people (error messages, logs): every message
// that may include a URL, a connection string or a server's own error text goes through maskSecrets.

const MASK = '***';

/** Query or keyword parameters whose value is a secret (`?password=`, `&token=`, `sslpassword=`, …). */
const SECRET_PARAM =
  /((?:^|[?&;\s])(?:password|passwd|pwd|pass|sslpassword|token|access_token|auth_token|refresh_token|id_token|api_key|apikey|api-key|key|secret|client_secret|signature|sig|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s'"]*/gi;

/** scheme://user:password@host — the password (up to the last @ of the authority) is masked. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):([^\s/?#]*)@/gi;

/** Environment variables whose values are secrets wherever they appear. */
const SECRET_ENV = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'PGPASSWORD'];

/**
 * The text with every credential replaced by `***`: the password of a URL's user:password@, secret query
 * parameters (password, token, api_key, signatures…), `Bearer` tokens, Hugging Face tokens (hf_…) and the
 * values of HF_TOKEN, HUGGING_FACE_HUB_TOKEN and PGPASSWORD.
 */
export function maskSecrets(text: string): string {
  let s = text
    .replace(USERINFO, (_, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
    .replace(SECRET_PARAM, `$1${MASK}`)
    .replace(/\b(Bearer\s+)[^\s'",]+/gi, `$1${MASK}`)
    .replace(/\bhf_[A-Za-z0-9]{8,}/g, `hf_${MASK}`);
  for (const name of SECRET_ENV) {
    const v = process.env[name]?.trim();
    if (v && v.length >= 8) s = s.split(v).join(MASK); // real tokens are long; short values would mask words
  }
  return s;
}
