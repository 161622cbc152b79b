// Branch and tag names: the rules live in core (the store checks HEAD against them too).
export { assertRefName, refNameProblem } from '../core/index.ts';
