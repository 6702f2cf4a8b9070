/** Parsing of `WWW-Authenticate` challenges (RFC 7235) as registries send them. */

export interface Challenge {
  /** Lowercased: `basic`, `bearer`. */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses one header value, which may hold several challenges. Unparseable input gives []. */
export function parseChallenges(value: string): Challenge[] {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let index = 0;
  const skipSpace = (): void => {
    while (index < value.length && /[\s,]/.test(value[index] ?? '')) index++;
  };
  const token = (): string => {
    const start = index;
    while (index < value.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(value[index] ?? '')) index++;
    return value.slice(start, index);
  };
  while (index < value.length) {
    skipSpace();
    const name = token();
    if (name === '') break;
    // Inside a challenge a name is a parameter when "=" follows it; otherwise it starts a new challenge.
    let rest = index;
    while (rest < value.length && value[rest] === ' ') rest++;
    const current = challenges.at(-1);
    if (value[rest] === '=' && current !== undefined) {
      index = rest + 1;
      while (index < value.length && value[index] === ' ') index++;
      let parameter = '';
      if (value[index] === '"') {
        index++;
        while (index < value.length && value[index] !== '"') {
          if (value[index] === '\\') index++;
          parameter += value[index] ?? '';
          index++;
        }
        index++;
      } else {
        const start = index;
        while (index < value.length && value[index] !== ',') index++;
        parameter = value.slice(start, index).trim();
      }
      current.params[name.toLowerCase()] = parameter;
    } else {
      challenges.push({ scheme: name.toLowerCase(), params: {} });
    }
  }
  return challenges;
}
