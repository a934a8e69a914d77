import { fieldsFor, MESSAGES, parseField, validateAll } from '../paramsForm';

describe('fieldsFor', () => {
  it('gives each type its input, prefilled with the default', () => {
    const fields = fieldsFor([
      { name: 'epochs', type: 'int', default: 3 },
      { name: 'lr', type: 'float', default: 0.001 },
      { name: 'shuffle', type: 'bool', default: true },
      { name: 'layers', type: 'list', default: [8, 4] },
      { name: 'opts', type: 'dict', default: null },
      { name: 'label', type: 'str', default: '<b>x</b>' }
    ]);
    expect(fields.map(f => [f.name, f.kind, f.initial])).toEqual([
      ['epochs', 'number', '3'],
      ['lr', 'number', '0.001'],
      ['shuffle', 'checkbox', true],
      ['layers', 'json', '[8,4]'],
      ['opts', 'json', '{}'],
      ['label', 'text', '<b>x</b>']
    ]);
    expect(fields[0].step).toBe('1');
    expect(fields[1].step).toBe('any');
  });
});

describe('parseField', () => {
  it.each([
    ['int', '7', 7],
    ['int', ' -2 ', -2],
    ['float', '1e-3', 0.001],
    ['float', '.5', 0.5],
    ['float', '3', 3],
    ['bool', 'TRUE', true],
    ['list', '[1, "a"]', [1, 'a']],
    ['dict', '{"k": 1}', { k: 1 }],
    ['str', '  kept as typed ', '  kept as typed ']
  ])('%s accepts %j', (type, text, value) => {
    expect(parseField(type, text)).toEqual({ ok: true, value });
  });

  it.each([
    ['int', '2.5', MESSAGES.int],
    ['int', '', MESSAGES.int],
    ['int', '99999999999999999999', MESSAGES.int],
    ['float', '0x10', MESSAGES.float],
    ['float', 'abc', MESSAGES.float],
    ['float', ' ', MESSAGES.float],
    ['bool', 'yes', MESSAGES.bool],
    ['list', '{"a": 1}', MESSAGES.list],
    ['dict', '[1]', MESSAGES.dict],
    ['dict', 'null', MESSAGES.dict]
  ])('%s refuses %j', (type, text, error) => {
    expect(parseField(type, text)).toEqual({ ok: false, error });
  });

  it('takes a checkbox as a boolean', () => {
    expect(parseField('bool', false)).toEqual({ ok: true, value: false });
  });
});

describe('validateAll', () => {
  const parameters = [
    { name: 'epochs', type: 'int', default: 3 },
    { name: 'lr', type: 'float', default: 0.1 }
  ];

  it('keeps defaults for untouched fields and types what was typed', () => {
    expect(validateAll(parameters, { lr: '0.5' })).toEqual({ values: { epochs: 3, lr: 0.5 }, errors: {} });
  });

  it('names each invalid field and keeps the valid ones', () => {
    const { values, errors } = validateAll(parameters, { epochs: 'three', lr: '0.5' });
    expect(errors).toEqual({ epochs: MESSAGES.int });
    expect(values).toEqual({ lr: 0.5 });
  });
});
