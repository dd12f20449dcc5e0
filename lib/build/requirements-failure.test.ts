import { expect } from 'chai';
import { parseRequirements } from '../config/requirements.js';
import { CortexError, ExitCode } from '../errors.js';
import { requirementsFailure } from './requirements-failure.js';

describe('requirementsFailure', () => {
  const parsed = parseRequirements(
    'numpy\n# pinned for the model\nscikit-learn==9.9.9\n',
    '/p/m/requirements_predict.txt',
  );
  if (!parsed.ok) throw new Error('unexpected');
  const failed = new CortexError('building x failed', { exitCode: ExitCode.buildFailed });

  it("names the requirements line pip could not satisfy, with pip's words", () => {
    const err = requirementsFailure('x', failed, parsed.value, [
      'ERROR: Could not find a version that satisfies the requirement scikit-learn==9.9.9',
      'ERROR: No matching distribution found for scikit-learn==9.9.9',
    ]);
    expect(err?.exitCode).to.equal(ExitCode.buildFailed);
    expect(err?.details).to.deep.equal([
      '/p/m/requirements_predict.txt:3: scikit-learn==9.9.9: pip found no version to install (pip: No matching distribution found for scikit-learn==9.9.9) (hint: check the name and the version: pip found no release of it that fits)',
    ]);
  });

  it('says that pip had no package index when none could be reached', () => {
    const err = requirementsFailure('x', failed, parsed.value, [
      "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(': Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/scikit-learn/",
      'ERROR: No matching distribution found for scikit-learn==9.9.9',
    ]);
    expect(err?.details[0]).to.contain('requirements_predict.txt:3').and.contain('pip had no package index');
  });

  it('leaves any other failure alone', () => {
    expect(requirementsFailure('x', failed, parsed.value, ['E: Unable to locate package libfoo'])).to.equal(undefined);
  });
});
